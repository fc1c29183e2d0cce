// @ts-check
// Live notifications (likes, forks, follows): a badge on the bell, a list, and a toast as each arrives.

import { currentUser, onAuthChange } from "./api.js";
import { clear, h, required } from "./dom.js";
import { live } from "./events.js";
import { timeAgo, toast } from "./ui.js";

const KEEP = 50;
/**
 * A notification as its event brings it, plus where it came from, when, and whether it was read.
 * @typedef {{kind: string, actor_id?: string, actor_name?: string, persona_id?: string, persona_name?: string, fork_id?: string, eventId?: number | null, at?: string, read?: boolean}} Notice
 */
/** @type {Notice[]} */
let items = [];

function key() {
  const user = currentUser();
  return user ? `persona.notifications.${user.id}` : null;
}

function load() {
  const k = key();
  try {
    items = k ? JSON.parse(localStorage.getItem(k) || "[]") : [];
  } catch {
    items = [];
  }
}

function save() {
  const k = key();
  if (k) localStorage.setItem(k, JSON.stringify(items.slice(0, KEEP)));
}

/** @param {Notice} n */
export function describe(n) {
  const who = n.actor_name || "Someone";
  if (n.kind === "like") return `${who} liked ${n.persona_name || "your persona"}`;
  if (n.kind === "follow") return `${who} started following you`;
  if (n.kind === "fork") return `${who} forked ${n.persona_name || "your persona"}`;
  return `${who}: ${n.kind}`;
}

/** @param {Notice} n */
function link(n) {
  // A fork links to the copy when it is shared, else to the persona that was forked.
  if (n.kind === "fork" && (n.fork_id || n.persona_id))
    return `#/p/${encodeURIComponent(n.fork_id || n.persona_id || "")}`;
  if (n.kind === "like" && n.persona_id) return `#/p/${encodeURIComponent(n.persona_id)}`;
  return `#/u/${encodeURIComponent(n.actor_id ?? "")}`;
}

function paint() {
  const list = required("#notif-list");
  clear(list);
  const unread = items.filter((n) => !n.read).length;
  const badge = required("#notif-count");
  badge.hidden = unread === 0;
  badge.textContent = String(unread);
  required("#notif-button").setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
  required("#notif-empty").hidden = items.length > 0;
  for (const n of items) {
    list.append(
      h(
        "li",
        { class: n.read ? "" : "unread" },
        h("a", { href: link(n) }, describe(n)),
        h("div", { class: "muted small" }, timeAgo(n.at)),
      ),
    );
  }
}

export function setupNotifications() {
  const button = required("#notif-button");
  const panel = required("#notif-panel");
  /** @param {boolean} open */
  const toggle = (open) => {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => toggle(Boolean(panel.hidden)));
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      toggle(false);
      button.focus();
    }
  });
  document.addEventListener("click", (e) => {
    const target = /** @type {Node | null} */ (e.target);
    if (!panel.hidden && !panel.contains(target) && !button.contains(target)) toggle(false);
  });
  panel.addEventListener("click", (e) => {
    if (/** @type {Element} */ (e.target).closest("a")) toggle(false);
  });
  required("#notif-clear").addEventListener("click", () => {
    items = items.map((n) => ({ ...n, read: true }));
    save();
    paint();
  });
  onAuthChange(() => {
    load();
    paint();
  });
  live.on("notification", (data, meta) => {
    if (meta.id !== null && items.some((n) => n.eventId === meta.id)) return;
    const n = { ...data, eventId: meta.id, at: new Date().toISOString(), read: false };
    items = [n, ...items].slice(0, KEEP);
    save();
    paint();
    toast(describe(n));
  });
  load();
  paint();
}
