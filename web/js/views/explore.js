// @ts-check
// `#/explore`: the community. Search, tag filter, sort (new, top, trending) or the feed of
// creators you follow; infinite scroll on the cursor. Live: new public personas appear at the
// top of the newest-first list and counts change as people like (the `public:community`
// channel, visitors too); when the tab comes back while the stream is down, the first page is
// read again. Skeleton cards hold the place of the first page, so nothing jumps when it arrives.

import { ApiError, api, signedIn } from "../api.js";
import { followCommunity, infinite, personaCard, showCounts } from "../community.js";
import { h } from "../dom.js";
import { joinHref } from "../door.js";
import { live } from "../events.js";
import { href } from "../router.js";
import { clearErrors, emptyState, errorMessage, field, replace, showError } from "../ui.js";

const PAGE = 20;
const SKELETONS = 8;

/** Grey cards in the shape of real ones, shown (hidden from screen readers) while a page loads. */
function skeletons() {
  return Array.from({ length: SKELETONS }, () =>
    h(
      "li",
      { class: "card skeleton", "aria-hidden": "true" },
      h("div", { class: "card-media" }),
      h(
        "div",
        { class: "card-body" },
        h("span", { class: "bone title" }),
        h("span", { class: "bone" }),
        h("span", { class: "bone short" }),
      ),
    ),
  );
}

/**
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export function render(main, { query }) {
  const state = {
    q: query.q || "",
    tag: query.tag || "",
    sort: query.sort === "following" && !signedIn() ? "new" : query.sort || "new",
  };
  // Creating needs an account: a visitor is asked to sign up first, then taken to the page.
  const createHref = signedIn() ? "#/create" : joinHref("create", { next: "/create" });
  const q = h("input", {
    type: "search",
    name: "q",
    value: state.q,
    maxlength: "100",
    placeholder: "Name, tagline or tag",
    autocomplete: "off",
  });
  const tag = h("input", { type: "text", name: "tag", value: state.tag, maxlength: "32", autocomplete: "off" });
  const sortSelect = h(
    "select",
    { name: "sort", value: state.sort },
    h("option", { value: "new" }, "Newest"),
    h("option", { value: "top" }, "Top (most liked)"),
    h("option", { value: "trending" }, "Trending"),
    // The feed is a member's own: visitors have no one they follow.
    signedIn() ? h("option", { value: "following" }, "From creators I follow") : null,
  );
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter personas", novalidate: true },
    field("Search", q),
    field("Tag", tag),
    field("Sort", sortSelect),
  );
  const cards = h("ul", { class: "cards", id: "persona-cards", "aria-label": "Personas" });
  const sentinel = h("div", { class: "end-of-list", "aria-live": "polite" });
  // New personas arriving live are announced here (a card appearing says nothing by itself).
  const news = h("p", { class: "visually-hidden", role: "status" });

  /** @type {string | null} */

  let cursor = null;
  let done = false;
  let count = 0;
  let generation = 0;

  const load = async () => {
    if (done) return false;
    const mine = generation;
    const first = !count;
    if (first) {
      // The first page takes the place the skeletons hold; the status is for screen readers.
      if (!cards.children.length) cards.append(...skeletons());
      replace(sentinel, h("span", { class: "visually-hidden" }, "Loading personas…"));
    } else sentinel.textContent = "Loading…";
    try {
      const page = await fetchPage(cursor);
      if (mine !== generation) return true;
      if (first) cards.replaceChildren();
      for (const [i, persona] of page.items.entries())
        cards.append(personaCard(persona, { onTag: setTag, first: first && i === 0 }));
      count += page.items.length;
      cursor = page.next;
      done = !cursor;
      sentinel.textContent = done && count ? "That's everyone." : "";
      if (done && !count) {
        const text =
          state.sort === "following"
            ? "Nobody you follow has shared a persona yet."
            : state.q || state.tag
              ? "No persona matches. Try another search or tag."
              : "No public personas yet.";
        replace(sentinel, emptyState(text, h("a", { href: createHref, class: "button primary" }, "Create one")));
      }
      return !done;
    } catch (err) {
      if (mine !== generation) return true;
      if (first) cards.replaceChildren();
      done = true;
      // A refused filter (e.g. a tag over 32 characters) is shown next to its field.
      if (err instanceof ApiError && err.field) showError(filters, err);
      else replace(sentinel, h("p", { class: "form-error", role: "alert" }, errorMessage(err)));
      if (/^Loading/.test(sentinel.textContent)) sentinel.replaceChildren();
      return false;
    }
  };

  /**
   * @param {string | null} after
   * @param {number} [limit]
   */
  const fetchPage = (after, limit = PAGE) =>
    state.sort === "following"
      ? api.page("/feed", { limit, cursor: after })
      : api.page("/personas", { sort: state.sort, q: state.q, tag: state.tag, limit, cursor: after });
  /** @param {string} id */
  const shown = (id) => Boolean(cards.querySelector(`.card[data-persona-id="${CSS.escape(id)}"]`));
  // Only the unfiltered newest-first list knows where a new persona goes: at the top.
  const takesNew = () => state.sort === "new" && !state.q && !state.tag;

  /**
   * Put personas that are new to this list at its top (newest first), and say so.
   * @param {import("../community.js").Persona[]} personas
   */
  const prepend = (personas) => {
    const fresh = personas.filter((p) => !shown(p.id));
    if (!fresh.length) return;
    if (!count) sentinel.replaceChildren();
    cards.prepend(...fresh.map((p) => personaCard(p, { onTag: setTag })));
    count += fresh.length;
    news.textContent = fresh.length === 1 ? `New persona: ${fresh[0].name}` : `${fresh.length} new personas`;
  };

  /** @param {{persona_id: string, nsfw?: boolean}} event `persona_published` */
  const published = async (event) => {
    if (!takesNew() || event.nsfw || shown(event.persona_id)) return;
    const mine = generation;
    try {
      const persona = await api.get(`/personas/${encodeURIComponent(event.persona_id)}`);
      if (mine === generation && takesNew()) prepend([persona]);
    } catch {
      // Gone again (deleted, hidden) before we read it: nothing to show.
    }
  };

  // Without a live stream (it dropped, or the tab slept), coming back reads the first page again:
  // counts are brought up to date and what was published meanwhile appears.
  const refresh = async () => {
    if (document.visibilityState !== "visible" || live.state === "open" || !count) return;
    const mine = generation;
    let page;
    try {
      page = await fetchPage(null);
    } catch {
      return;
    }
    if (mine !== generation) return;
    for (const persona of page.items) if (shown(persona.id)) showCounts(persona.id, persona);
    if (takesNew()) {
      const firstKnown = page.items.findIndex((p) => shown(p.id));
      prepend(page.items.slice(0, Math.max(firstKnown, 0)));
    }
  };

  // Filters change the list in place (and the address, for sharing), keeping focus where it is.
  const apply = () => {
    state.q = q.value.trim();
    state.tag = tag.value.trim();
    state.sort = sortSelect.value;
    history.replaceState(
      null,
      "",
      href("/explore", { q: state.q, tag: state.tag, sort: state.sort === "new" ? "" : state.sort }),
    );
    generation += 1;
    clearErrors(filters);
    cursor = null;
    done = false;
    count = 0;
    cards.replaceChildren();
    sentinel.textContent = "";
    scroll.kick();
  };
  /** @param {string} t */
  function setTag(t) {
    tag.value = t;
    apply();
  }

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(apply, 350);
  });
  tag.addEventListener("change", apply);
  sortSelect.addEventListener("change", apply);
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(timer);
    apply();
  });

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Explore personas"),
      h("a", { class: "button primary", href: createHref }, "Create a persona"),
    ),
    filters,
    news,
    cards,
    sentinel,
  );
  const scroll = infinite(sentinel, load);
  const stopLive = [live.on("persona_published", published), followCommunity()];
  window.addEventListener("focus", refresh);
  document.addEventListener("visibilitychange", refresh);
  return () => {
    clearTimeout(timer);
    scroll.stop();
    for (const stop of stopLive) stop();
    window.removeEventListener("focus", refresh);
    document.removeEventListener("visibilitychange", refresh);
  };
}
