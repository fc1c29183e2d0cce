// @ts-check
// Community actions (like, follow, fork, report, start a chat) and the persona card. A visitor
// (signed out) who presses one is sent to sign up and brought back (door.js).

import { adultBadge } from "./adult.js";
import { api, currentUser } from "./api.js";
import { $$, h } from "./dom.js";
import { member } from "./door.js";
import { live } from "./events.js";
import { avatar } from "./media.js";
import { go, href } from "./router.js";
import { ask, busy, formatCount, plural, replace, toast } from "./ui.js";

/**
 * A persona as the API answers it: the UI reads the fields it shows.
 * @typedef {{id: string, name: string, owner_id: string, nsfw?: boolean, [field: string]: any}} Persona
 */

/** @param {{id: string}} p */
const pid = (p) => encodeURIComponent(p.id);
// Live counts reach every element showing a persona's counts as this DOM event.
const COUNTS = "persona-counts";

/**
 * Show a persona's new counts wherever it is on screen (cards, its page, like buttons).
 * @param {string} personaId
 * @param {{like_count?: number, chat_count?: number}} counts
 */
export function showCounts(personaId, counts) {
  for (const el of $$(`[data-counts-for="${CSS.escape(personaId)}"]`))
    el.dispatchEvent(new CustomEvent(COUNTS, { detail: counts }));
}

// The community channel says when a public persona's counts change; a like notification says it
// for my own personas (unlisted ones too), so the number shown agrees with the notification.
live.on("persona_stats", (data) => showCounts(data.persona_id, data));
live.on("notification", (data) => {
  if (data.kind === "like" && data.persona_id && typeof data.like_count === "number")
    showCounts(data.persona_id, { like_count: data.like_count });
});

/**
 * Follow the community channel (new public personas, like counts) while a page shows public
 * personas; returns the function that stops following it.
 */
export function followCommunity() {
  return live.watch("public:community");
}

/**
 * "3 likes · 1 chat" (and `extra` items), kept current by live counts.
 * @param {Persona} persona
 * @param {...import("./dom.js").Child} extra
 */
export function personaStats(persona, ...extra) {
  const likes = h("span", { class: "likes" });
  const chats = h("span", { class: "chats" });
  const paint = () => {
    likes.textContent = plural(persona.like_count, "like");
    chats.textContent = plural(persona.chat_count, "chat");
  };
  paint();
  const el = h("p", { class: "stats", dataset: { countsFor: persona.id } }, likes, chats, ...extra);
  el.addEventListener(COUNTS, (e) => {
    Object.assign(persona, pick(/** @type {CustomEvent} */ (e).detail));
    paint();
  });
  return el;
}

/** @param {{like_count?: number, chat_count?: number}} counts */
const pick = ({ like_count, chat_count }) =>
  Object.fromEntries(Object.entries({ like_count, chat_count }).filter(([, v]) => typeof v === "number"));

/**
 * Like / unlike. Its accessible name holds what it shows ("Like Mae, 3 likes"): the heart is
 * decoration, the count is read with its noun.
 * @param {Persona} persona
 * @param {{onChange?: (persona: Persona) => void}} [options]
 */
export function likeButton(persona, { onChange = () => {} } = {}) {
  const count = h("span", { class: "count" });
  const unit = h("span", { class: "visually-hidden" });
  const button = h(
    "button",
    {
      type: "button",
      class: "small like",
      "aria-pressed": String(Boolean(persona.liked_by_me)),
      dataset: { countsFor: persona.id },
    },
    h("span", { "aria-hidden": "true" }, "♥"),
    " ",
    h("span", { class: "visually-hidden" }, `Like ${persona.name}, `),
    count,
    unit,
  );
  const paint = () => {
    button.setAttribute("aria-pressed", String(Boolean(persona.liked_by_me)));
    count.textContent = formatCount(persona.like_count);
    unit.textContent = Number(persona.like_count || 0) === 1 ? " like" : " likes";
    button.title = persona.liked_by_me ? "Unlike" : "Like";
  };
  paint();
  // Its children are its label: busy() must not flatten them back to text.
  button.dataset.keepLabel = "1";
  button.addEventListener(COUNTS, (e) => {
    const { detail } = /** @type {CustomEvent} */ (e);
    if (typeof detail.like_count !== "number") return;
    persona.like_count = detail.like_count;
    paint();
  });
  button.addEventListener("click", () => {
    if (!member("like")) return;
    busy(button, async () => {
      const state = persona.liked_by_me
        ? await api.del(`/personas/${pid(persona)}/like`)
        : await api.put(`/personas/${pid(persona)}/like`);
      if (state && typeof state.like_count === "number") {
        persona.liked_by_me = state.liked_by_me;
        persona.like_count = state.like_count;
      } else {
        persona.like_count += persona.liked_by_me ? -1 : 1;
        persona.liked_by_me = !persona.liked_by_me;
      }
      paint();
      // Every other place showing this persona's counts (its stats line) says the same.
      showCounts(persona.id, { like_count: persona.like_count });
      onChange(persona);
    });
  });
  return button;
}

/**
 * Follow / unfollow a creator; null on my own personas.
 * @param {string} userId
 * @param {string | null | undefined} name
 * @param {boolean | null | undefined} followed
 * @param {{onChange?: (followed: boolean, result: any) => void}} [options]
 */
export function followButton(userId, name, followed, { onChange = () => {} } = {}) {
  const me = currentUser();
  if (me && me.id === userId) return null;
  let state = Boolean(followed);
  const button = h("button", { type: "button", class: "small follow" });
  const paint = () => {
    button.setAttribute("aria-pressed", String(state));
    button.textContent = state ? `Following ${name || "creator"}` : `Follow ${name || "creator"}`;
  };
  paint();
  button.dataset.keepLabel = "1";
  button.addEventListener("click", () => {
    if (!member("follow")) return;
    busy(button, async () => {
      const result = state
        ? await api.del(`/users/${encodeURIComponent(userId)}/follow`)
        : await api.put(`/users/${encodeURIComponent(userId)}/follow`);
      state = result && typeof result.followed_by_me === "boolean" ? result.followed_by_me : !state;
      paint();
      onChange(state, result);
    });
  });
  return button;
}

/**
 * @param {Persona} persona
 * @param {HTMLButtonElement | null} [button]
 * @returns {Promise<Persona | undefined>} the private copy
 */
export async function fork(persona, button = null) {
  if (!member("fork")) return undefined;
  return busy(button, async () => {
    const copy = await api.post(`/personas/${pid(persona)}/fork`, { visibility: "private" });
    toast(`Forked ${persona.name}: your private copy is ready to edit.`, "success");
    go(`/p/${copy.id}/edit`);
    return copy;
  });
}

/**
 * @param {Persona} persona
 * @param {HTMLButtonElement | null} [button]
 */
export async function report(persona, button = null) {
  if (!member("report")) return;
  const reason = await ask({
    title: `Report ${persona.name}`,
    body: "Tell the moderators what is wrong with this persona.",
    input: { label: "Reason", multiline: true, maxlength: 1000 },
    confirm: "Send report",
    danger: true,
  });
  if (!reason) return;
  await busy(button, async () => {
    await api.post(`/personas/${pid(persona)}/report`, { reason });
    toast("Thank you: the report was sent to the moderators.", "success");
  });
}

/**
 * "Chat": resume the latest conversation with this persona, or start the first one.
 * @param {{id: string}} persona
 * @param {HTMLButtonElement | null} [button]
 */
export async function startChat(persona, button = null) {
  if (!member("chat")) return;
  await busy(button, async () => {
    const { items } = await api.page("/conversations", { persona_id: persona.id, limit: 1 });
    if (items.length) go(`/c/${items[0].id}`);
    else go(`/c/${(await api.post(`/personas/${pid(persona)}/conversations`, {})).conversation.id}`);
  });
}

/**
 * "New chat": always a fresh conversation, greeting first.
 * @param {{id: string, name?: string}} persona
 * @param {HTMLButtonElement | null} [button]
 */
export async function newChat(persona, button = null) {
  await busy(button, async () => {
    const started = await api.post(`/personas/${pid(persona)}/conversations`, {});
    go(`/c/${started.conversation.id}`);
  });
}

/**
 * @param {string[] | null | undefined} tags
 * @param {((tag: string) => void) | null} [onTag] filters the list in place (else a link to Explore)
 */
export function tagList(tags, onTag = null) {
  if (!tags?.length) return null;
  return h(
    "ul",
    { class: "tags", "aria-label": "Tags" },
    tags.map((tag) =>
      h(
        "li",
        {},
        onTag
          ? h(
              "button",
              { type: "button", class: "tag", onclick: () => onTag(tag), "aria-label": `Show personas tagged ${tag}` },
              tag,
            )
          : h("a", { class: "tag", href: href("/explore", { tag }) }, tag),
      ),
    ),
  );
}

/**
 * A community card. `onTag(tag)` filters the list by a tag when given; `first`: the list's first
 * card, whose picture is asked for at once (media.js `avatar`).
 * @param {Persona} persona
 * @param {{onTag?: ((tag: string) => void) | null, first?: boolean}} [options]
 */
export function personaCard(persona, { onTag = null, first = false } = {}) {
  const me = currentUser();
  const own = me && me.id === persona.owner_id;
  const chat = h("button", { type: "button", class: "small" }, "Chat");
  chat.addEventListener("click", () => startChat(persona, chat));
  const more = h("details", { class: "more" }, h("summary", { class: "button small" }, "More"));
  const menu = h("div", { class: "row" });
  if (!own) {
    const follow = followButton(persona.owner_id, persona.owner_name, persona.followed_by_me);
    if (follow) menu.append(follow);
  }
  const forkButton = h("button", { type: "button", class: "small" }, "Fork");
  forkButton.addEventListener("click", () => fork(persona, forkButton));
  menu.append(forkButton);
  if (!own) {
    const reportButton = h("button", { type: "button", class: "small danger" }, "Report");
    reportButton.addEventListener("click", () => report(persona, reportButton));
    menu.append(reportButton);
  }
  more.append(menu);
  return h(
    "li",
    { class: "card", dataset: { personaId: persona.id } },
    h(
      "a",
      { class: "card-media", href: `#/p/${pid(persona)}`, tabindex: "-1", "aria-hidden": "true" },
      avatar(persona, { first }),
    ),
    h(
      "div",
      { class: "card-body" },
      persona.nsfw
        ? h(
            "div",
            { class: "title-row" },
            h("h2", {}, h("a", { href: `#/p/${pid(persona)}` }, persona.name)),
            adultBadge(persona),
          )
        : h("h2", {}, h("a", { href: `#/p/${pid(persona)}` }, persona.name)),
      persona.tagline ? h("p", { class: "tagline" }, persona.tagline) : null,
      persona.owner_name
        ? h(
            "p",
            { class: "muted small" },
            "by ",
            h("a", { href: `#/u/${encodeURIComponent(persona.owner_id)}` }, persona.owner_name),
          )
        : null,
      tagList(persona.tags, onTag),
      personaStats(persona),
      h("div", { class: "card-actions" }, likeButton(persona), chat, more),
    ),
  );
}

/**
 * Infinite scroll: calls `load()` (which returns false at the end) whenever `sentinel` is near
 * the viewport. Returns
 * `{kick, stop}`; `kick()` re-checks (after the list was reset). Observing again always
 * delivers a fresh entry, so a short page that leaves the sentinel visible loads the next one.
 * @param {Element} sentinel
 * @param {() => Promise<unknown>} load
 */
export function infinite(sentinel, load) {
  let loading = false;
  const observer = new IntersectionObserver(
    async (entries) => {
      if (!entries.some((e) => e.isIntersecting) || loading) return;
      loading = true;
      let more = false;
      try {
        more = (await load()) !== false;
      } finally {
        loading = false;
      }
      if (more) kick();
    },
    { rootMargin: "400px" },
  );
  const kick = () => {
    if (!sentinel.isConnected) return;
    observer.unobserve(sentinel);
    observer.observe(sentinel);
  };
  observer.observe(sentinel);
  return { kick, stop: () => observer.disconnect() };
}

/**
 * A creator's personas as cards in `cards`, a page at a time as `sentinel` nears; `none()` fills
 * the sentinel when there are none at all. Returns the scroll's `{kick, stop}`.
 * @param {HTMLElement} cards
 * @param {HTMLElement} sentinel
 * @param {string} creatorId
 * @param {() => Node} none
 */
export function creatorPersonas(cards, sentinel, creatorId, none) {
  /** @type {string | null} */
  let cursor = null;
  let done = false;
  return infinite(sentinel, async () => {
    if (done) return false;
    const page = await api.page("/personas", { creator_id: creatorId, limit: 20, cursor });
    cards.append(...page.items.map((p) => personaCard(p)));
    cursor = page.next;
    done = !cursor;
    if (done && !cards.children.length) replace(sentinel, none());
    return !done;
  });
}
