// @ts-check
// Visitors (no account): reading is open to them; an action that needs an account (chat, like,
// follow, fork, report, create) sends them to sign up with the page they were on as `next`, so
// signing up, or signing in instead, brings them back to it.

import { signedIn } from "./api.js";
import { go, href } from "./router.js";

// Why a visitor was sent to sign up. The address carries only the key, so nobody can make the
// sign-up page say something else.
/** @type {Record<string, string>} */
const REASONS = {
  chat: "chat with personas",
  like: "like personas",
  follow: "follow creators",
  fork: "fork personas and make them your own",
  report: "report a persona to the moderators",
  create: "create your own personas",
};
const PENDING_KEY = "persona.next";
const PENDING_MS = 30 * 60 * 1000;

/** The current route, as a `next` value ("/p/abc", "/explore?tag=sea"). */
export function here() {
  return location.hash.replace(/^#/, "") || "/";
}

/**
 * A `next` from a query that is a route of this app (never another site), or null.
 * @param {unknown} next
 * @returns {string | null}
 */
export function safeNext(next) {
  return typeof next === "string" && next.startsWith("/") && !next.startsWith("//") ? next : null;
}

/**
 * What the sign-up (or sign-in) page says about why it was opened, or null.
 * @param {string | null | undefined} why
 */
export function reason(why) {
  return why && Object.hasOwn(REASONS, why) ? REASONS[why] : null;
}

/**
 * The address of the sign-up page (`signin` for the sign-in page) that comes back to `next`.
 * @param {string | null} [why] a key of REASONS
 * @param {{page?: string, next?: string}} [options]
 */
export function joinHref(why = null, { page = "signup", next = here() } = {}) {
  const back = safeNext(next);
  const keep = back && !["/", "/welcome", "/signin", "/signup"].includes(back.split("?")[0]);
  return href(`/${page}`, { next: keep ? back : null, why: reason(why) ? why : null });
}

/**
 * True when signed in; otherwise sends the visitor to sign up (then back here) and returns false.
 * @param {string} why a key of REASONS
 */
export function member(why) {
  if (signedIn()) return true;
  location.hash = joinHref(why);
  return false;
}

/**
 * Where to go after signing in: `next` from the query, else the one remembered when a sign-in
 * link was mailed (the link may open in another tab), else the community.
 * @param {Record<string, string>} query
 */
export function destination(query) {
  const pending = takePending();
  return safeNext(query.next) || pending || "/explore";
}

/**
 * Remember `next` while a sign-in link travels through the mailbox.
 * @param {unknown} next
 */
export function rememberNext(next) {
  const value = safeNext(next);
  try {
    if (value) localStorage.setItem(PENDING_KEY, JSON.stringify({ next: value, at: Date.now() }));
  } catch {
    // Storage refused (private mode): the link lands on the community instead.
  }
}

function takePending() {
  try {
    const raw = localStorage.getItem(PENDING_KEY);
    localStorage.removeItem(PENDING_KEY);
    const pending = raw ? JSON.parse(raw) : null;
    return pending && Date.now() - pending.at < PENDING_MS ? safeNext(pending.next) : null;
  } catch {
    return null;
  }
}

/**
 * Go to `next` (a route with its query) as a replacement of the current entry.
 * @param {string} next
 */
export function goTo(next) {
  const [path, qs = ""] = next.split("?");
  go(path, Object.fromEntries(new URLSearchParams(qs)), { replace: true });
}
