// Hash routes (`#/personas/abc?tab=gallery`): the gateway serves files only, so deep links must
// not need a server-side fallback to index.html.

const routes = [];
let current = null;
let renderCount = 0;

/** `pattern` like "/p/:id/edit"; `view(main, {params, query})` may return a cleanup function. */
export function route(pattern, view, { auth = true, nav = null } = {}) {
  const keys = [];
  const rx = new RegExp(
    "^" +
      pattern.replace(/\/:([a-z_]+)/gi, (_, key) => {
        keys.push(key);
        return "/([^/]+)";
      }) +
      "/?$",
  );
  routes.push({ rx, keys, view, auth, nav });
}

export function parse(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, qs = ""] = raw.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(qs)) };
}

export function href(path, query = {}) {
  const qs = new URLSearchParams(
    Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

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

export function match(path) {
  for (const r of routes) {
    const m = path.match(r.rx);
    if (m) {
      const params = {};
      for (const [i, key] of r.keys.entries()) params[key] = decodeURIComponent(m[i + 1]);
      return { ...r, params };
    }
  }
  return null;
}

let guard = () => null;
/** `fn(route)` returns a redirect path (e.g. to sign in) or null. */
export function setGuard(fn) {
  guard = fn;
}

let afterRender = () => {};
export function onRender(fn) {
  afterRender = fn;
}

export async function render() {
  const main = document.getElementById("main");
  const { path, query } = parse();
  const found = match(path) || match("/404");
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
  current = { path, cleanup: null };
  main.replaceChildren();
  main.removeAttribute("aria-busy");
  afterRender(found, path);
  let cleanup = null;
  try {
    cleanup = await found.view(main, { params: found.params, query, isCurrent: () => token === renderCount });
  } catch (err) {
    // A page whose data cannot be loaded (gone, private, server unreachable) says so.
    if (token === renderCount) showLoadError(main, err);
  }
  if (token === renderCount) {
    current.cleanup = typeof cleanup === "function" ? cleanup : null;
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
