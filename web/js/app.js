// @ts-check
// Boot: restore the session, start live events, wire the header, route.

import { currentUser, forget, onAuthChange, prefetch, restore, signedIn } from "./api.js";
import { $, $$, h, required } from "./dom.js";
import { here, joinHref } from "./door.js";
import { live } from "./events.js";
import "./limits.js";
import { setupNotifications } from "./notifications.js";
import { href, match, onRender, parse, render, route, setGuard, start } from "./router.js";
import { toast } from "./ui.js";

// Each page's module (`web/js/views/<name>.js`) loads when its route first opens; the first
// route's starts at boot, beside restoring the session (docs/web.md, "Bytes").
/**
 * @typedef {"account" | "auth" | "chat" | "create" | "editor" | "explore" | "landing" | "mine" | "persona"
 *   | "profile" | "rooms" | "settings"} ViewModule
 */

// What each module imports beyond the ones already loaded, as the gateway lists it (fingerprinted
// URLs): asked for together with the module, rather than in waves as each import is discovered.
/** @type {Record<string, string[]>} */
const PRELOADS = JSON.parse(/** @type {HTMLMetaElement | null} */ ($('meta[name="module-preloads"]'))?.content || "{}");
/** @type {Set<string>} */
const preloaded = new Set();

/**
 * @param {string} specifier a page's module, relative to this one
 * @returns {Promise<Record<string, (main: HTMLElement, context: import("./router.js").Context) => unknown>>}
 */
function loadModule(specifier) {
  for (const url of PRELOADS[new URL(specifier, import.meta.url).pathname] || []) {
    if (preloaded.has(url)) continue;
    preloaded.add(url);
    const link = document.createElement("link");
    link.rel = "modulepreload";
    link.href = url;
    document.head.append(link);
  }
  return import(specifier);
}

/**
 * The route's view: `module[name](main, context)` once the module is there. `data({params, query})`
 * names the page's first request, `[path, query]`, started at boot (a visitor's: api.js prefetch).
 * @param {ViewModule} module
 * @param {string} [name] the function of the module that draws the page
 * @param {import("./router.js").View["data"]} [data]
 * @returns {import("./router.js").View}
 */
function page(module, name = "render", data = null) {
  const load = () => loadModule(`./views/${module}.js`);
  /** @type {import("./router.js").View} */
  const view = async (main, context) => {
    const loaded = await load();
    // Another route opened while this module was loading: it renders, not this one.
    if (!context.isCurrent()) return null;
    return loaded[name](main, context);
  };
  view.load = load;
  view.data = data;
  return view;
}

// Visitors (signed out) may read: the landing page, the community, persona pages, profiles.
// The landing page's and Explore's queries as the views make them (a different query only costs
// one unused request).
/** @type {NonNullable<import("./router.js").View["data"]>} */
const top = () => ["/personas", { sort: "top", limit: 6 }];
/** @type {NonNullable<import("./router.js").View["data"]>} */
const listing = ({ query }) => [
  "/personas",
  { sort: query.sort && query.sort !== "following" ? query.sort : "new", q: query.q, tag: query.tag, limit: 20 },
];
route("/", page("landing", "render", top), { auth: false });
route("/welcome", page("landing", "render", top), { auth: false });
route("/signin", page("auth", "signIn"), { auth: false });
route("/signup", page("auth", "signUp"), { auth: false });
route("/reset", page("auth", "reset"), { auth: false });
route("/magic", page("auth", "magic"), { auth: false });
route("/explore", page("explore", "render", listing), { auth: false, nav: "explore" });
route("/create", page("create"), { nav: "create" });
route("/new", page("editor", "createView"), { nav: "create" });
route("/mine", page("mine"), { nav: "mine" });
route(
  "/p/:id",
  page("persona", "render", ({ params }) => [`/personas/${encodeURIComponent(params.id)}`]),
  { auth: false, nav: "explore" },
);
route("/p/:id/edit", page("editor", "editView"), { nav: "mine" });
route("/chats", page("chat", "list"), { nav: "chats" });
route("/c/:id", page("chat", "conversation"), { nav: "chats" });
route("/rooms", page("rooms", "list"), { nav: "rooms" });
route("/rooms/join/:code", page("rooms", "join"), { nav: "rooms" });
route("/r/:id", page("rooms", "room"), { nav: "rooms" });
route("/u/:id", page("profile"), { auth: false, nav: "explore" });
route("/account", page("account"), { nav: "account" });
route("/settings", page("settings"), { nav: "account" });
route(
  "/404",
  (main) => {
    main.append(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/explore" }, "Back to the community")));
  },
  { auth: false },
);

setGuard((found, path, query) => {
  if (found.auth && !signedIn()) {
    const next = path === "/" ? undefined : path + (Object.keys(query).length ? `?${new URLSearchParams(query)}` : "");
    return { path: "/signin", query: next ? { next } : {} };
  }
  if (!found.auth && signedIn() && ["/", "/welcome", "/signin", "/signup"].includes(path)) return { path: "/explore" };
  return null;
});

onRender((found, path) => {
  for (const link of $$(".mainnav a, .topbar-visitor a")) {
    const nav = link.dataset.nav;
    if (nav === found.nav || (nav === "signin" && path === "/signin") || (nav === "signup" && path === "/signup"))
      link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A visitor who signs in or up from the top bar comes back to the page they were reading.
  /** @type {HTMLAnchorElement} */ (required("#visitor-signin")).href = joinHref(null, { page: "signin" });
  /** @type {HTMLAnchorElement} */ (required("#visitor-signup")).href = joinHref(null);
});

/**
 * Members see their pages, live status and notifications; visitors see the way in.
 * @param {import("./api.js").User | null} user
 */
function showChrome(user) {
  for (const link of $$(".mainnav [data-members]")) link.hidden = !user;
  required(".topbar-tools").hidden = !user;
  required(".topbar-visitor").hidden = Boolean(user);
  document.body.classList.toggle("visitor", !user);
  document.body.classList.toggle("member", Boolean(user));
}

function liveStatus() {
  const el = required("#live-status");
  const text = required(".live-text", el);
  /** @type {Record<string, string>} */
  const labels = { open: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", closed: "Offline" };
  live.onState((state) => {
    el.dataset.state = state;
    text.textContent = labels[state] || state;
  });
}

// Pages a person is sent back to after signing in again (never the sign-in pages themselves).
const NOT_NEXT = ["/", "/welcome", "/signin", "/signup", "/reset", "/magic"];

/**
 * The server ended this session (revoked elsewhere, signed out everywhere, refresh refused):
 * the sign-in page says why in a sentence and brings the person back to this page afterwards.
 * While booting, a page anyone may read stays, with a toast; during use, the page is left at once.
 * @param {string} reason
 * @param {boolean} booted
 */
function sessionEnded(reason, booted) {
  const back = here();
  const { path } = parse();
  const found = match(path);
  if (!booted && found && !found.auth) {
    toast("Your session has ended. Sign in again to use your account.");
    return;
  }
  const next = NOT_NEXT.includes(path) ? null : back;
  history.replaceState(null, "", href("/signin", { ended: reason, next }));
  if (booted) render();
}

async function boot() {
  liveStatus();
  setupNotifications();
  let wasSignedIn = false;
  let booted = false;
  onAuthChange((user, ended) => {
    showChrome(user);
    if (user && !wasSignedIn) live.start();
    if (!user && (wasSignedIn || ended)) {
      live.stop();
      if (ended) {
        sessionEnded(ended.reason, booted);
      } else if (wasSignedIn) {
        toast("You are signed out.");
        render();
      }
    }
    wasSignedIn = Boolean(user);
  });
  // The gateway ends a revoked session's live stream with `session_revoked`: leave at once.
  live.onRevoked(() => forget("revoked"));
  // The first page's module and data load while the session is restored (a failure shows when it
  // renders).
  const { path, query } = parse();
  const first = match(path);
  if (first?.view.load) first.view.load().catch(() => {});
  if (first?.view.data) prefetch(...first.view.data({ params: first.params, query }));
  try {
    await restore();
  } catch {
    toast("Cannot reach the server; showing the sign-in page.", "error");
  }
  showChrome(currentUser());
  if (signedIn() && !wasSignedIn) {
    wasSignedIn = true;
    live.start();
  }
  booted = true;
  await start();
}

boot();
