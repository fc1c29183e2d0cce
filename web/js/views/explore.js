// `#/explore`: the community. Search, tag filter, sort (new, top, trending) or the feed of
// creators you follow; infinite scroll on the cursor.

import { ApiError, api, signedIn } from "../api.js";
import { joinHref } from "../door.js";
import { h } from "../dom.js";
import { infinite, personaCard } from "../community.js";
import { href } from "../router.js";
import { clearErrors, emptyState, errorMessage, field, replace, showError } from "../ui.js";

export function render(main, { query }) {
  const state = { q: query.q || "", tag: query.tag || "", sort: query.sort === "following" && !signedIn() ? "new" : query.sort || "new" };
  // Creating needs an account: a visitor is asked to sign up first, then taken to the page.
  const createHref = signedIn() ? "#/create" : joinHref("create", { next: "/create" });
  const q = h("input", { type: "search", name: "q", value: state.q, maxlength: "100", placeholder: "Name, tagline or tag", autocomplete: "off" });
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
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter personas", novalidate: true }, field("Search", q), field("Tag", tag), field("Sort", sortSelect));
  const cards = h("ul", { class: "cards", id: "persona-cards", "aria-label": "Personas" });
  const sentinel = h("div", { class: "end-of-list", "aria-live": "polite" });

  let cursor = null;
  let done = false;
  let count = 0;
  let generation = 0;

  const load = async () => {
    if (done) return false;
    const mine = generation;
    sentinel.textContent = "Loading…";
    try {
      const page =
        state.sort === "following"
          ? await api.page("/feed", { limit: 20, cursor })
          : await api.page("/personas", { sort: state.sort, q: state.q, tag: state.tag, limit: 20, cursor });
      if (mine !== generation) return true;
      for (const persona of page.items) cards.append(personaCard(persona, { onTag: setTag }));
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
      done = true;
      // A refused filter (e.g. a tag over 32 characters) is shown next to its field.
      if (err instanceof ApiError && err.field) showError(filters, err);
      else replace(sentinel, h("p", { class: "form-error", role: "alert" }, errorMessage(err)));
      sentinel.textContent = sentinel.textContent === "Loading…" ? "" : sentinel.textContent;
      return false;
    }
  };

  // Filters change the list in place (and the address, for sharing), keeping focus where it is.
  const apply = () => {
    state.q = q.value.trim();
    state.tag = tag.value.trim();
    state.sort = sortSelect.value;
    history.replaceState(null, "", href("/explore", { q: state.q, tag: state.tag, sort: state.sort === "new" ? "" : state.sort }));
    generation += 1;
    clearErrors(filters);
    cursor = null;
    done = false;
    count = 0;
    cards.replaceChildren();
    sentinel.textContent = "";
    scroll.kick();
  };
  function setTag(t) {
    tag.value = t;
    apply();
  }

  let timer = null;
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
    h("div", { class: "page-head" }, h("h1", {}, "Explore personas"), h("a", { class: "button primary", href: createHref }, "Create a persona")),
    filters,
    cards,
    sentinel,
  );
  const scroll = infinite(sentinel, load);
  return () => {
    clearTimeout(timer);
    scroll.stop();
  };
}
