// Boot: restore the session, start live events, wire the header, route.

import { currentUser, forget, onAuthChange, restore, signedIn } from "./api.js";
import { here, joinHref } from "./door.js";
import { $, $$, h } from "./dom.js";
import { live } from "./events.js";
import "./limits.js";
import { setupNotifications } from "./notifications.js";
import { href, match, onRender, parse, render, route, setGuard, start } from "./router.js";
import { toast } from "./ui.js";
import * as account from "./views/account.js";
import * as auth from "./views/auth.js";
import * as chat from "./views/chat.js";
import * as create from "./views/create.js";
import * as editor from "./views/editor.js";
import * as explore from "./views/explore.js";
import * as landing from "./views/landing.js";
import * as mine from "./views/mine.js";
import * as persona from "./views/persona.js";
import * as profile from "./views/profile.js";
import * as settings from "./views/settings.js";

// Visitors (signed out) may read: the landing page, the community, persona pages, profiles.
route("/", landing.render, { auth: false });
route("/welcome", landing.render, { auth: false });
route("/signin", auth.signIn, { auth: false });
route("/signup", auth.signUp, { auth: false });
route("/reset", auth.reset, { auth: false });
route("/magic", auth.magic, { auth: false });
route("/explore", explore.render, { auth: false, nav: "explore" });
route("/create", create.render, { nav: "create" });
route("/new", editor.createView, { nav: "create" });
route("/mine", mine.render, { nav: "mine" });
route("/p/:id", persona.render, { auth: false, nav: "explore" });
route("/p/:id/edit", editor.editView, { nav: "mine" });
route("/chats", chat.list, { nav: "chats" });
route("/c/:id", chat.conversation, { nav: "chats" });
route("/u/:id", profile.render, { auth: false, nav: "explore" });
route("/account", account.render, { nav: "account" });
route("/settings", settings.render, { nav: "account" });
route("/404", (main) => {
  main.append(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/explore" }, "Back to the community")));
}, { auth: false });

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
    if (nav === found.nav || (nav === "signin" && path === "/signin") || (nav === "signup" && path === "/signup")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A visitor who signs in or up from the top bar comes back to the page they were reading.
  $("#visitor-signin").href = joinHref(null, { page: "signin" });
  $("#visitor-signup").href = joinHref(null);
});

/** Members see their pages, live status and notifications; visitors see the way in. */
function showChrome(user) {
  for (const link of $$(".mainnav [data-members]")) link.hidden = !user;
  $(".topbar-tools").hidden = !user;
  $(".topbar-visitor").hidden = Boolean(user);
  document.body.classList.toggle("visitor", !user);
  document.body.classList.toggle("member", Boolean(user));
}

function liveStatus() {
  const el = $("#live-status");
  const text = $(".live-text", el);
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
