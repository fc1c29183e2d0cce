// @ts-check
// Boot: restore the session, route, and load the top bar (topbar.js) beside the first page.

import { currentUser, endedReason, onAuthChange, prefetch, restore, signedIn } from "./api.js";
import { $, h } from "./dom.js";
import { match, onRender, parse, route, setGuard, start } from "./router.js";
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
 * @param {string} specifier a module loaded later (a page's, the top bar), relative to this one
 * @returns {Promise<any>}
 */
function loadModule(specifier) {
  // The module itself first: it is asked for before what it imports, not after.
  const loading = import(specifier);
  for (const url of PRELOADS[new URL(specifier, import.meta.url).pathname] || []) {
    if (preloaded.has(url)) continue;
    preloaded.add(url);
    const link = document.createElement("link");
    link.rel = "modulepreload";
    link.href = url;
    document.head.append(link);
  }
  return loading;
}

/**
 * The route's view: `module[name](main, context)` once the module is there. `data({params, query})`
 * names the page's first request, `[path, query]`, started at boot (a visitor's: api.js prefetch);
 * `picture(data)` the URL of the picture to ask for as soon as that data arrives.
 * @param {ViewModule} module
 * @param {string} [name] the function of the module that draws the page
 * @param {import("./router.js").View["data"]} [data]
 * @param {import("./router.js").View["picture"]} [picture]
 * @returns {import("./router.js").View}
 */
function page(module, name = "render", data = null, picture = null) {
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
  view.picture = picture;
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
// Explore's first card's avatar is its largest picture (media.js `avatar`, `first`).
/** @type {NonNullable<import("./router.js").View["picture"]>} */
const firstAvatar = (personas) => personas?.[0]?.avatar_url;
route("/explore", page("explore", "render", listing, firstAvatar), { auth: false, nav: "explore" });
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
    // A session the server ended while a public page was open (a toast said so): the sign-in
    // page a members' page leads to still says why.
    const ended = endedReason();
    return { path: "/signin", query: { ...(next ? { next } : {}), ...(ended ? { ended } : {}) } };
  }
  if (!found.auth && signedIn() && ["/", "/welcome", "/signin", "/signup"].includes(path)) return { path: "/explore" };
  return null;
});

/**
 * Fetch a picture ahead of the `<img>` that shows it, which then takes it from the cache.
 * @param {string | null | undefined} url
 */
function warm(url) {
  if (!url) return;
  const image = new Image();
  image.fetchPriority = "high";
  image.src = url;
}

async function boot() {
  // The first page's data (a visitor's) and module load while the session is restored; the data
  // is asked for first, as it is what the page waits for longest (a failure shows when it renders).
  const { path, query } = parse();
  const first = match(path);
  if (first?.view.data) {
    const [dataPath, dataQuery] = first.view.data({ params: first.params, query });
    // The page's largest picture is asked for as its data arrives, not once the page is drawn.
    const picture = first.view.picture;
    prefetch(dataPath, dataQuery, picture ? (data) => warm(picture(data)) : null);
  }
  if (first?.view.load) first.view.load().catch(() => {});
  // The top bar loads beside them; what the session does until then waits for it.
  /** @type {Promise<typeof import("./topbar.js")>} */
  const topbar = loadModule("./topbar.js").then((/** @type {typeof import("./topbar.js")} */ bar) => {
    bar.setupTopbar();
    return bar;
  });
  // Whether the first page was shown: a session ended before that leaves a page anyone may read.
  let booted = false;
  let endedAtBoot = false;
  onAuthChange((user, ended) => {
    const shown = booted;
    if (ended && !shown) endedAtBoot = true;
    topbar.then((bar) => bar.authChanged(user, ended, shown));
  });
  try {
    await restore();
  } catch {
    toast("Cannot reach the server; showing the sign-in page.", "error");
  }
  topbar.then((bar) => {
    bar.authChanged(currentUser(), null, false);
    onRender(bar.markPage);
  });
  // The first page waits for the bar only when the restored session was ended by the server: the
  // bar decides where that person goes (authChanged). Otherwise, until the bar knows the session,
  // its links take their room unseen (app.css), so nothing moves when they show.
  if (endedAtBoot) await topbar;
  booted = true;
  await start();
  // Only forms need it, and none is typed into before the first page is shown.
  import("./limits.js");
}

boot();
