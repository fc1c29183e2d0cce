// Community actions (like, follow, fork, report, start a chat) and the persona card. A visitor
// (signed out) who presses one is sent to sign up and brought back (door.js).

import { adultBadge } from "./adult.js";
import { api, currentUser } from "./api.js";
import { member } from "./door.js";
import { h } from "./dom.js";
import { avatar } from "./media.js";
import { go, href } from "./router.js";
import { ask, busy, formatCount, toast } from "./ui.js";

const pid = (p) => encodeURIComponent(p.id);

export function likeButton(persona, { onChange = () => {} } = {}) {
  const count = h("span", { class: "count" }, formatCount(persona.like_count));
  const button = h("button", { type: "button", class: "small like", "aria-pressed": String(Boolean(persona.liked_by_me)), "aria-label": `Like ${persona.name}` }, "♥ ", count);
  const paint = () => {
    button.setAttribute("aria-pressed", String(Boolean(persona.liked_by_me)));
    count.textContent = formatCount(persona.like_count);
    button.title = persona.liked_by_me ? "Unlike" : "Like";
  };
  paint();
  button.addEventListener("click", () => {
    if (!member("like")) return;
    busy(button, async () => {
      const state = persona.liked_by_me ? await api.del(`/personas/${pid(persona)}/like`) : await api.put(`/personas/${pid(persona)}/like`);
      if (state && typeof state.like_count === "number") {
        persona.liked_by_me = state.liked_by_me;
        persona.like_count = state.like_count;
      } else {
        persona.like_count += persona.liked_by_me ? -1 : 1;
        persona.liked_by_me = !persona.liked_by_me;
      }
      button.dataset.keepLabel = "1";
      paint();
      onChange(persona);
    });
  });
  return button;
}

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
      const result = state ? await api.del(`/users/${encodeURIComponent(userId)}/follow`) : await api.put(`/users/${encodeURIComponent(userId)}/follow`);
      state = result && typeof result.followed_by_me === "boolean" ? result.followed_by_me : !state;
      paint();
      onChange(state, result);
    });
  });
  return button;
}

export async function fork(persona, button = null) {
  if (!member("fork")) return undefined;
  return busy(button, async () => {
    const copy = await api.post(`/personas/${pid(persona)}/fork`, { visibility: "private" });
    toast(`Forked ${persona.name}: your private copy is ready to edit.`, "success");
    go(`/p/${copy.id}/edit`);
    return copy;
  });
}

export async function report(persona, button = null) {
  if (!member("report")) return;
  const reason = await ask({ title: `Report ${persona.name}`, body: "Tell the moderators what is wrong with this persona.", input: { label: "Reason", multiline: true, maxlength: 1000 }, confirm: "Send report", danger: true });
  if (!reason) return;
  await busy(button, async () => {
    await api.post(`/personas/${pid(persona)}/report`, { reason });
    toast("Thank you: the report was sent to the moderators.", "success");
  });
}

/** "Chat": resume the latest conversation with this persona, or start the first one. */
export async function startChat(persona, button = null) {
  if (!member("chat")) return;
  await busy(button, async () => {
    const { items } = await api.page("/conversations", { persona_id: persona.id, limit: 1 });
    if (items.length) go(`/c/${items[0].id}`);
    else go(`/c/${(await api.post(`/personas/${pid(persona)}/conversations`, {})).conversation.id}`);
  });
}

/** "New chat": always a fresh conversation, greeting first. */
export async function newChat(persona, button = null) {
  await busy(button, async () => {
    const started = await api.post(`/personas/${pid(persona)}/conversations`, {});
    go(`/c/${started.conversation.id}`);
  });
}

export function tagList(tags, onTag = null) {
  if (!tags || !tags.length) return null;
  return h(
    "ul",
    { class: "tags", "aria-label": "Tags" },
    tags.map((tag) => h("li", {}, onTag ? h("button", { type: "button", class: "tag", onclick: () => onTag(tag), "aria-label": `Show personas tagged ${tag}` }, tag) : h("a", { class: "tag", href: href("/explore", { tag }) }, tag))),
  );
}

/** A community card. `onTag(tag)` filters the list by a tag when given. */
export function personaCard(persona, { onTag = null } = {}) {
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
    h("a", { class: "card-media", href: `#/p/${pid(persona)}`, tabindex: "-1", "aria-hidden": "true" }, avatar(persona)),
    h(
      "div",
      { class: "card-body" },
      persona.nsfw ? h("div", { class: "title-row" }, h("h2", {}, h("a", { href: `#/p/${pid(persona)}` }, persona.name)), adultBadge(persona)) : h("h2", {}, h("a", { href: `#/p/${pid(persona)}` }, persona.name)),
      persona.tagline ? h("p", { class: "tagline" }, persona.tagline) : null,
      persona.owner_name ? h("p", { class: "muted small" }, "by ", h("a", { href: `#/u/${encodeURIComponent(persona.owner_id)}` }, persona.owner_name)) : null,
      tagList(persona.tags, onTag),
      h("p", { class: "stats" }, h("span", { class: "likes" }, `${formatCount(persona.like_count)} likes`), h("span", { class: "chats" }, `${formatCount(persona.chat_count)} chats`)),
      h("div", { class: "card-actions" }, likeButton(persona, { onChange: (p) => updateStats(p) }), chat, more),
    ),
  );

  function updateStats(p) {
    const el = document.querySelector(`.card[data-persona-id="${CSS.escape(p.id)}"] .likes`);
    if (el) el.textContent = `${formatCount(p.like_count)} likes`;
  }
}

/**
 * Infinite scroll: calls `load()` (which returns false at the end) whenever `sentinel` is near
 * the viewport. Returns
 * `{kick, stop}`; `kick()` re-checks (after the list was reset). Observing again always
 * delivers a fresh entry, so a short page that leaves the sentinel visible loads the next one.
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
