// @ts-check
// `#/` and `#/welcome` for visitors: what Persona Community is, what you can do here, a few
// public personas to meet, and the way in. Signed-in people go straight to the community.

import { api } from "../api.js";
import { h } from "../dom.js";
import { avatar } from "../media.js";
import { replace } from "../ui.js";

const SHOWN = 6;

const FEATURES = [
  {
    title: "Create a persona",
    text: "Give a character a name, a personality, a scenario and a first line, or describe an idea in a sentence and edit the draft the AI writes for you. Generate an avatar or upload your own pictures.",
  },
  {
    title: "Chat, live",
    text: "Replies appear word by word as they are written. Don't like one? Regenerate it, swipe between the alternatives, or edit the conversation to steer the story.",
  },
  {
    title: "Share with the community",
    text: "Publish a persona for everyone, share a private link with friends, or keep it to yourself. Like what you meet, follow creators, and fork a persona to make your own version.",
  },
  {
    title: "Bring your cards",
    text: "Import and export character cards (V2 and V3, JSON or PNG), so your characters come with you and go wherever you take them.",
  },
];

/** What Persona Community is, in a heading and a sentence, and the way in. */
function pitch() {
  return h(
    "div",
    { class: "hero-text" },
    h("p", { class: "eyebrow" }, "Persona Community"),
    h("h1", { id: "hero-title" }, "Create AI characters, talk with them, share them."),
    h(
      "p",
      { class: "lead" },
      "Dream up a persona (a detective, a dragon, a grumpy lighthouse keeper) and start a conversation. Replies stream in live, word by word. When you're happy with a character, share it and meet everyone else's.",
    ),
    h(
      "div",
      { class: "row cta" },
      h("a", { class: "button primary large", href: "#/signup" }, "Create a free account"),
      h("a", { class: "button large", href: "#/explore" }, "Browse personas"),
    ),
    h("p", { class: "muted small" }, "Already have an account? ", h("a", { href: "#/signin" }, "Sign in"), "."),
  );
}

/**
 * A persona to meet: the whole card is one link to its page.
 * @param {import("../community.js").Persona} persona
 */
function teaser(persona) {
  // Six small thumbnails near the top of the page: no reason to wait for a scroll.
  const picture = avatar(persona);
  if (picture instanceof HTMLImageElement) picture.loading = "eager";
  return h(
    "li",
    { class: "teaser" },
    h(
      "a",
      { href: `#/p/${encodeURIComponent(persona.id)}`, dataset: { personaId: persona.id } },
      picture,
      h(
        "span",
        { class: "teaser-text" },
        h("span", { class: "teaser-name" }, persona.name),
        persona.tagline ? h("span", { class: "teaser-tagline" }, persona.tagline) : null,
      ),
    ),
  );
}

/**
 * A few public personas, the most liked first; quiet when there are none or none load.
 * @param {HTMLElement} list
 * @param {HTMLElement} status
 */
async function meet(list, status) {
  try {
    const { items } = await api.page("/personas", { sort: "top", limit: SHOWN });
    if (!items.length) {
      replace(status, h("p", { class: "muted" }, "No one has shared a persona yet. Yours could be the first."));
      return;
    }
    list.append(...items.map(teaser));
    status.replaceChildren();
  } catch {
    replace(
      status,
      h(
        "p",
        { class: "muted" },
        "The community could not be loaded just now. ",
        h("a", { href: "#/explore" }, "Try the community page"),
        ".",
      ),
    );
  }
}

/** Decorative: what a conversation looks like (read by no one; the text says it all). */
function preview() {
  /**
   * @param {string} who "user" or "bot"
   * @param {string} text
   */
  const bubble = (who, text, streaming = false) =>
    h(
      "div",
      { class: `preview-line ${who}` },
      h("span", { class: `preview-bubble${streaming ? " streaming" : ""}` }, text),
    );
  return h(
    "div",
    { class: "hero-preview", "aria-hidden": "true" },
    h(
      "div",
      { class: "preview-head" },
      h("span", { class: "avatar" }, "VK"),
      h("span", {}, h("strong", {}, "Vera Kane"), h("span", { class: "muted small" }, "Private eye")),
    ),
    bubble(
      "bot",
      "Sit down before you drip through my floor. Coffee's bad, but it's hot. What won't wait till morning?",
    ),
    bubble("user", "My brother's boat came back to the harbour without him."),
    bubble("bot", "Then we start at the harbour. Who saw the boat come in, and who tied it up", true),
  );
}

/** @param {HTMLElement} main */
export function render(main) {
  const list = h("ul", { class: "teasers", "aria-label": "Public personas" });
  const status = h(
    "div",
    { class: "teasers-status", "aria-live": "polite" },
    h("p", { class: "muted" }, "Loading personas…"),
  );
  main.append(
    h("section", { class: "hero", "aria-labelledby": "hero-title" }, pitch(), preview()),
    h(
      "section",
      { class: "features", "aria-labelledby": "features-title" },
      h("h2", { id: "features-title" }, "What you can do"),
      h(
        "ul",
        { class: "feature-list" },
        FEATURES.map((f) => h("li", {}, h("h3", {}, f.title), h("p", {}, f.text))),
      ),
    ),
    h(
      "section",
      { class: "meet", "aria-labelledby": "meet-title" },
      h(
        "div",
        { class: "page-head" },
        h("h2", { id: "meet-title" }, "Meet a few personas"),
        h("a", { href: "#/explore" }, "See everyone in the community →"),
      ),
      list,
      status,
    ),
    h(
      "section",
      { class: "panel join", "aria-labelledby": "join-title" },
      h("h2", { id: "join-title" }, "Look around first. Join when you want to talk."),
      h(
        "p",
        {},
        "Without an account you can browse the community, read every public persona's page, see creators' profiles and download character cards. A free account lets you chat, like, follow, fork and create your own. Personas are AI characters: what they say is made up.",
      ),
      h(
        "div",
        { class: "row" },
        h("a", { class: "button primary", href: "#/signup" }, "Sign up"),
        h("a", { class: "button", href: "#/signin" }, "Sign in"),
      ),
    ),
  );
  meet(list, status);
}
