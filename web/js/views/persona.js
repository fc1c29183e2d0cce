// @ts-check
// `#/p/:id`: a persona's page: who they are, whom a fork credits, community actions, export, and
// for the owner the media panel (generate, upload, gallery, avatar). An adult persona asks first
// whoever has not turned adult content on.

import { adultBadge, adultGate, shownAtOnce } from "../adult.js";
import { api, currentUser } from "../api.js";
import {
  followButton,
  followCommunity,
  fork,
  likeButton,
  personaStats,
  report,
  startChat,
  tagList,
} from "../community.js";
import { append, clear, h } from "../dom.js";
import { joinHref } from "../door.js";
import { avatar } from "../media.js";
import { go } from "../router.js";
import { ask, busy, timeAgo, toast } from "../ui.js";
import { personaText } from "../whoami.js";

/**
 * Download a card export through the API client (an owner's private persona needs the token;
 * visitors download shared ones without).
 * @param {import("../community.js").Persona} persona
 * @param {"json" | "png"} kind
 * @param {HTMLButtonElement} button
 */
async function download(persona, kind, button) {
  await busy(button, async () => {
    const response = await api.download(`/personas/${encodeURIComponent(persona.id)}/card.${kind}`);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const safe = persona.name.replace(/[^\p{L}\p{N} _-]+/gu, "").trim() || "persona";
    const a = h("a", { href: url, download: `${safe}.${kind === "json" ? "card.json" : "card.png"}`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
}

/**
 * @param {string} title
 * @param {Node | string | null} text
 */
function section(title, text) {
  if (!text) return null;
  return [h("dt", {}, title), h("dd", {}, text)];
}

/**
 * "Forked from <original> by <creator>": the credit a fork carries (`fork_origin`).
 * @param {import("../community.js").Persona} persona
 */
function forkCredit(persona) {
  const origin = persona.fork_origin || { persona_id: persona.forked_from };
  const creator = origin.owner_id
    ? h("a", { href: `#/u/${encodeURIComponent(origin.owner_id)}` }, origin.owner_name || "its creator")
    : null;
  if (origin.persona_name) {
    return h(
      "p",
      { class: "fork-credit small" },
      "Forked from ",
      h("a", { href: `#/p/${encodeURIComponent(origin.persona_id)}` }, origin.persona_name),
      creator ? [" by ", creator] : null,
    );
  }
  if (creator)
    return h("p", { class: "fork-credit small" }, "Forked from a persona by ", creator, " that is no longer shared");
  return h("p", { class: "fork-credit small" }, "Forked from a persona that was deleted");
}

/**
 * The owner's media panel. Its module loads only for them: a visitor's page does not wait for it.
 * @param {import("../community.js").Persona} persona
 */
function ownMedia(persona) {
  const slot = h("div");
  import("../gallery.js").then(({ mediaPanel }) => {
    if (slot.isConnected) slot.replaceWith(mediaPanel(persona, { onAvatar: () => go(`/p/${persona.id}`) }));
  });
  return slot;
}

/**
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export async function render(main, { params }) {
  const persona = await api.get(`/personas/${encodeURIComponent(params.id)}`);
  if (!(await shownAtOnce(persona))) {
    main.append(
      adultGate(() => {
        clear(main);
        show(main, persona);
        main.querySelector("h1")?.focus();
      }),
    );
    return;
  }
  show(main, persona);
}

/**
 * @param {HTMLElement} main
 * @param {import("../community.js").Persona} persona
 */
function show(main, persona) {
  const me = currentUser();
  const own = me && me.id === persona.owner_id;

  const chat = h("button", { type: "button", class: "primary" }, `Chat with ${persona.name}`);
  chat.addEventListener("click", () => startChat(persona, chat));
  const forkButton = h("button", { type: "button" }, "Fork");
  forkButton.addEventListener("click", () => fork(persona, forkButton));
  const exportJson = h("button", { type: "button" }, "Export card (JSON)");
  exportJson.addEventListener("click", () => download(persona, "json", exportJson));
  const exportPng = h("button", { type: "button" }, "Export card (PNG)");
  exportPng.addEventListener("click", () => download(persona, "png", exportPng));
  const stats = personaStats(persona, h("span", {}, persona.visibility));
  const actions = h("div", { class: "row" }, chat, likeButton(persona), forkButton, exportJson, exportPng);
  if (own) {
    const del = h("button", { type: "button", class: "danger" }, "Delete");
    del.addEventListener("click", async () => {
      const sure = await ask({
        title: `Delete ${persona.name}?`,
        body: "The persona is removed for everyone. Chats with it end.",
        confirm: "Delete",
        danger: true,
      });
      if (!sure) return;
      await busy(del, async () => {
        await api.del(`/personas/${encodeURIComponent(persona.id)}`);
        toast(`${persona.name} deleted.`);
        go("/mine");
      });
    });
    actions.append(h("a", { class: "button", href: `#/p/${encodeURIComponent(persona.id)}/edit` }, "Edit"), del);
  } else {
    const reportButton = h("button", { type: "button", class: "danger" }, "Report");
    reportButton.addEventListener("click", () => report(persona, reportButton));
    actions.append(reportButton);
  }

  const creator = h(
    "p",
    { class: "muted" },
    "by ",
    h("a", { href: `#/u/${encodeURIComponent(persona.owner_id)}` }, persona.owner_name || "a creator"),
    ` · ${timeAgo(persona.created_at)}`,
  );
  if (!own) {
    // The persona view does not say whether we follow its creator; the profile does.
    api
      .get(`/users/${encodeURIComponent(persona.owner_id)}`)
      .then((profile) => {
        const button = followButton(
          persona.owner_id,
          profile.display_name || persona.owner_name,
          profile.followed_by_me,
        );
        if (button) creator.append(" ", button);
      })
      .catch(() => {});
  }

  const details = h(
    "dl",
    { class: "fields" },
    section("Description", personaText(persona.description, persona)),
    section("Personality", personaText(persona.personality, persona)),
    section("Scenario", personaText(persona.scenario, persona)),
    section("Greeting", personaText(persona.greeting, persona)),
    persona.alternate_greetings?.length
      ? [
          h("dt", {}, "Alternate greetings"),
          h(
            "dd",
            {},
            h(
              "ol",
              {},
              persona.alternate_greetings.map((/** @type {string} */ g) =>
                h("li", { class: "prose" }, personaText(g, persona)),
              ),
            ),
          ),
        ]
      : null,
    section("Example dialogues", personaText(persona.example_dialogues, persona)),
    own ? section("System prompt", persona.system_prompt) : null,
    own ? section("Post-history instructions", persona.post_history_instructions) : null,
    section("Creator notes", persona.creator_notes),
    section("Card creator", persona.creator),
    section("Version", persona.character_version),
  );

  append(main, [
    h(
      "section",
      { class: "panel" },
      h(
        "div",
        { class: "persona-head" },
        avatar(persona, { large: true, alt: `${persona.name}'s avatar`, waitForOwn: true, first: true }),
        h(
          "div",
          { class: "info" },
          persona.nsfw
            ? h("div", { class: "title-row" }, h("h1", { tabindex: "-1" }, persona.name), adultBadge(persona))
            : h("h1", { tabindex: "-1" }, persona.name),
          persona.tagline ? h("p", { class: "tagline" }, persona.tagline) : null,
          creator,
          persona.forked_from ? forkCredit(persona) : null,
          tagList(persona.tags),
          stats,
          actions,
          me
            ? null
            : h(
                "p",
                { class: "muted small visitor-note" },
                h("a", { href: joinHref("chat") }, "Sign up free"),
                ` to chat with ${persona.name}, like and fork. Reading and downloading the card need no account.`,
              ),
        ),
      ),
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "about-title" },
      h("h2", { id: "about-title" }, "About"),
      details,
    ),
    own ? ownMedia(persona) : null,
  ]);
  // A public persona's counts change live (an owner hears of likes from notifications anyway).
  return persona.visibility === "public" ? followCommunity() : undefined;
}
