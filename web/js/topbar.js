// @ts-check
// The top bar and what a session's changes show: members' links, live status and notifications,
// visitors' way in, and a session the server ended. Loaded by app.js beside the first page's
// module, not before it: the entry's own imports stay few enough to arrive in one round.

import { forget } from "./api.js";
import { $$, required } from "./dom.js";
import { here, joinHref } from "./door.js";
import { live } from "./events.js";
import { setupNotifications } from "./notifications.js";
import { href, match, parse, render } from "./router.js";
import { toast } from "./ui.js";

let wasSignedIn = false;

/**
 * Members see their pages, live status and notifications; visitors see the way in.
 * @param {import("./api.js").User | null} user
 */
export function showChrome(user) {
  for (const link of $$(".mainnav [data-members]")) link.hidden = !user;
  required(".topbar-tools").hidden = !user;
  required(".topbar-visitor").hidden = Boolean(user);
  document.body.classList.toggle("visitor", !user);
  document.body.classList.toggle("member", Boolean(user));
}

/**
 * The open page's link is marked current; a visitor who signs in or up from the top bar comes
 * back to the page they were reading.
 * @param {import("./router.js").Found} found
 * @param {string} path
 */
export function markPage(found, path) {
  for (const link of $$(".mainnav a, .topbar-visitor a")) {
    const nav = link.dataset.nav;
    if (nav === found.nav || (nav === "signin" && path === "/signin") || (nav === "signup" && path === "/signup"))
      link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  /** @type {HTMLAnchorElement} */ (required("#visitor-signin")).href = joinHref(null, { page: "signin" });
  /** @type {HTMLAnchorElement} */ (required("#visitor-signup")).href = joinHref(null);
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

/**
 * Someone signed in or out, or the server ended the session (`ended`); `booted`: the first page
 * was shown already when it happened.
 * @param {import("./api.js").User | null} user
 * @param {import("./api.js").Ended | null} ended
 * @param {boolean} booted
 */
export function authChanged(user, ended, booted) {
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
}

/** Wire the bar once, before the session's first change reaches `authChanged`. */
export function setupTopbar() {
  liveStatus();
  setupNotifications();
  // The gateway ends a revoked session's live stream with `session_revoked`: leave at once.
  live.onRevoked(() => forget("revoked"));
}
