// @ts-check
// Adult (NSFW) content: the account's setting (persona_svc's `GET/PATCH /users/me/settings`,
// loaded once per sign-in), the 18+ label, and the question a persona page asks before showing
// an adult persona to someone who has not turned adult content on.

import { api, currentUser, onAuthChange } from "./api.js";
import { h } from "./dom.js";
import { here } from "./door.js";
import { href } from "./router.js";

/**
 * The account's content settings.
 * @typedef {{show_nsfw: boolean, adult_confirmed_at: string | null}} ContentSettings
 */

/** @type {Promise<ContentSettings> | null} the request loading the account's settings */
let loading = null;

onAuthChange(() => {
  loading = null;
});

/**
 * The account's content settings; visitors (and a failed request) get the defaults: adult
 * content off.
 * @returns {Promise<ContentSettings>}
 */
export function contentSettings() {
  if (!currentUser()) return Promise.resolve({ show_nsfw: false, adult_confirmed_at: null });
  if (!loading) {
    const request = api.get("/users/me/settings");
    loading = request;
    request.catch(() => {
      loading = null;
    });
    return request.catch(() => ({ show_nsfw: false, adult_confirmed_at: null }));
  }
  return loading.catch(() => ({ show_nsfw: false, adult_confirmed_at: null }));
}

/**
 * Save new settings (the server asks for `confirm_adult` to turn adult content on).
 * @param {{show_nsfw?: boolean, confirm_adult?: boolean}} body
 * @returns {Promise<ContentSettings>}
 */
export async function saveContentSettings(body) {
  const saved = await api.patch("/users/me/settings", body);
  loading = Promise.resolve(saved);
  return saved;
}

/**
 * The 18+ label of an adult persona (null for the others).
 * @param {{nsfw?: boolean}} persona
 */
export function adultBadge(persona) {
  return persona.nsfw ? h("span", { class: "adult-badge", title: "Adult content (NSFW)" }, "18+") : null;
}

/**
 * Whether the persona page may show `persona` at once: not adult, the viewer's own, or the
 * viewer turned adult content on.
 * @param {{nsfw?: boolean, owner_id?: string}} persona
 */
export async function shownAtOnce(persona) {
  const me = currentUser();
  if (!persona.nsfw || (me && me.id === persona.owner_id)) return true;
  return (await contentSettings()).show_nsfw;
}

/**
 * The question asked instead of an adult persona's page. `onShow()` shows the page (this time
 * only); members may turn adult content on for good in their settings, and come back here.
 * @param {() => void} onShow
 */
export function adultGate(onShow) {
  const show = h("button", { type: "button", class: "primary" }, "I am 18 or older: show it");
  show.addEventListener("click", onShow);
  const settings = href("/settings", { next: here() });
  return h(
    "section",
    { class: "panel adult-gate", "aria-labelledby": "adult-gate-title" },
    h("span", { class: "adult-badge large", "aria-hidden": "true" }, "18+"),
    h("h1", { id: "adult-gate-title" }, "Adult content"),
    h(
      "p",
      {},
      "This persona is marked as adult content (NSFW): it is meant for people 18 or older. Do you want to see it?",
    ),
    h("div", { class: "row" }, show, h("a", { class: "button", href: "#/explore" }, "No, back to Explore")),
    currentUser()
      ? h(
          "p",
          { class: "muted small" },
          "To see adult personas in Explore and search without being asked, ",
          h("a", { href: settings }, "turn on adult content"),
          " in your content settings.",
        )
      : h(
          "p",
          { class: "muted small" },
          "Members can turn on adult content in their settings to see adult personas in Explore and search.",
        ),
  );
}
