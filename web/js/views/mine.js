// @ts-check
// `#/mine`: the personas I created (every visibility).

import { api, currentUser } from "../api.js";
import { infinite, personaCard } from "../community.js";
import { h } from "../dom.js";
import { emptyState, replace } from "../ui.js";

/** @param {HTMLElement} main */
export function render(main) {
  const me = /** @type {import("../api.js").User} */ (currentUser()); // a members' page
  const cards = h("ul", { class: "cards", id: "my-personas", "aria-label": "My personas" });
  const sentinel = h("div", { class: "end-of-list" });
  /** @type {string | null} */
  let cursor = null;
  let done = false;
  const load = async () => {
    if (done) return false;
    const page = await api.page("/personas", { creator_id: me.id, limit: 20, cursor });
    cards.append(...page.items.map((p) => personaCard(p)));
    cursor = page.next;
    done = !cursor;
    if (done && !cards.children.length) {
      replace(
        sentinel,
        emptyState(
          "You have not created a persona yet.",
          h(
            "div",
            { class: "row" },
            h("a", { class: "button primary", href: "#/create" }, "Draft one from an idea"),
            h("a", { class: "button", href: "#/new" }, "Start from a blank form or a card"),
          ),
        ),
      );
    }
    return !done;
  };
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "My personas"),
      h(
        "div",
        { class: "row" },
        h("a", { class: "button primary", href: "#/create" }, "From an idea"),
        h("a", { class: "button", href: "#/new" }, "Blank or import"),
      ),
    ),
    cards,
    sentinel,
  );
  const scroll = infinite(sentinel, load);
  return () => scroll.stop();
}
