// @ts-check
// Hash routes (`#/personas/abc?tab=gallery`): the gateway serves files only, so deep links must
// not need a server-side fallback to index.html.

/**
 * What a page's view is given: the route's `:params`, the query, and whether it is still the page
 * shown (another route may have opened while it loaded).
 * @typedef {{params: Record<string, string>, query: Record<string, string>, isCurrent: () => boolean}} Context
 */

/**
 * A page: draws into `main`, and may return (or resolve to) what to do when the page closes.
 * `load` starts loading its module; `data` names its first request; `picture` names, from that
 * request's data, the picture likely to be the page's largest (app.js).
 * @typedef {((main: HTMLElement, context: Context) => unknown) & {load?: () => Promise<unknown>, data?: ((c: {params: Record<string, string>, query: Record<string, string>}) => [string, Record<string, unknown>?]) | null, picture?: ((data: any) => string | null | undefined) | null}} View
 */

/**
 * @typedef {{rx: RegExp, keys: string[], view: View, auth: boolean, nav: string | null}} Route
 * @typedef {Route & {params: Record<string, string>}} Found
 */

/** @type {Route[]} */
const routes = [];
/** @type {{path: string, cleanup: (() => void) | null} | null} */
let current = null;
let renderCount = 0;

/**
 * `pattern` like "/p/:id/edit"; `view(main, {params, query})` may return a cleanup function.
 * @param {string} pattern
 * @param {View} view
 * @param {{auth?: boolean, nav?: string | null}} [options] `auth`: members only; `nav`: the top bar's link
 */
export function route(pattern, view, { auth = true, nav = null } = {}) {
  /** @type {string[]} */
  const keys = [];
  const rx = new RegExp(
    "^" +
      pattern.replace(/\/:([a-z_]+)/gi, (_, /** @type {string} */ key) => {
        keys.push(key);
        return "/([^/]+)";
      }) +
      "/?$",
  );
  routes.push({ rx, keys, view, auth, nav });
}

/** @returns {{path: string, query: Record<string, string>}} */
export function parse(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, qs = ""] = raw.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(qs)) };
}

/**
 * @param {string} path
 * @param {Record<string, string | null | undefined>} [query] empty values are left out
 */
export function href(path, query = {}) {
  const qs = new URLSearchParams(
    /** @type {[string, string][]} */ (
      Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "")
    ),
  ).toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

/**
 * @param {string} path
 * @param {Record<string, string | null | undefined>} [query]
 * @param {{replace?: boolean}} [options] `replace`: no new history entry
 */
export function go(path, query = {}, { replace = false } = {}) {
  const target = href(path, query);
  if (replace) {
    history.replaceState(null, "", target);
    render();
  } else if (location.hash === target) {
    render();
  } else {
    location.hash = target;
  }
}

/**
 * @param {string} path
 * @returns {Found | null}
 */
export function match(path) {
  for (const r of routes) {
    const m = path.match(r.rx);
    if (m) {
      /** @type {Record<string, string>} */
      const params = {};
      for (const [i, key] of r.keys.entries()) params[key] = decodeURIComponent(m[i + 1]);
      return { ...r, params };
    }
  }
  return null;
}

/**
 * @typedef {(found: Found, path: string, query: Record<string, string>) => {path: string, query?: Record<string, string | null | undefined>} | null} Guard
 */

/** @type {Guard} */
let guard = () => null;
/**
 * `fn(route, path, query)` returns a redirect (e.g. to sign in) or null.
 * @param {Guard} fn
 */
export function setGuard(fn) {
  guard = fn;
}

/** @type {(found: Found, path: string) => void} */
let afterRender = () => {};
/** @type {{found: Found, path: string} | null} */
let shownLast = null;
/**
 * `fn(found, path)` as each page opens; set after a page opened, it hears of that one at once.
 * @param {(found: Found, path: string) => void} fn
 */
export function onRender(fn) {
  afterRender = fn;
  if (shownLast) fn(shownLast.found, shownLast.path);
}

export async function render() {
  const main = /** @type {HTMLElement} */ (document.getElementById("main"));
  const { path, query } = parse();
  const found = /** @type {Found} */ (match(path) || match("/404"));
  const redirect = guard(found, path, query);
  if (redirect) {
    go(redirect.path, redirect.query || {}, { replace: true });
    return;
  }
  if (current?.cleanup) {
    try {
      current.cleanup();
    } catch (err) {
      console.warn(err);
    }
  }
  const token = ++renderCount;
  const shown = { path, cleanup: /** @type {(() => void) | null} */ (null) };
  current = shown;
  main.replaceChildren();
  main.removeAttribute("aria-busy");
  shownLast = { found, path };
  afterRender(found, path);
  /** @type {unknown} */
  let cleanup = null;
  try {
    cleanup = await found.view(main, { params: found.params, query, isCurrent: () => token === renderCount });
  } catch (err) {
    // A page whose data cannot be loaded (gone, private, server unreachable) says so.
    if (token === renderCount) showLoadError(main, err);
  }
  if (token === renderCount) {
    shown.cleanup = typeof cleanup === "function" ? /** @type {() => void} */ (cleanup) : null;
    // Move focus to the new page's heading so keyboard and screen-reader users land on it.
    const heading = main.querySelector("h1");
    if (heading && !main.contains(document.activeElement)) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  } else if (typeof cleanup === "function") {
    cleanup();
  }
}

/**
 * @param {HTMLElement} main
 * @param {any} err an ApiError, or a bug
 */
function showLoadError(main, err) {
  const status = err && typeof err.status === "number" ? err.status : 0;
  const title = status === 404 ? "Not found" : status === 403 ? "Not allowed" : "This page could not be loaded";
  const message = err?.message ? err.message : "Something went wrong.";
  // A bug (not an API answer) stays loud: it is logged as an error.
  if (!(err && "status" in err)) console.error(err);
  const h1 = document.createElement("h1");
  h1.textContent = title;
  const p = document.createElement("p");
  p.textContent = message;
  const back = document.createElement("a");
  back.href = "#/explore";
  back.textContent = "Back to the community";
  main.replaceChildren(h1, p, back);
}

export function start() {
  window.addEventListener("hashchange", render);
  return render();
}
