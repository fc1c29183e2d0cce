// @ts-check
// `#/mine`: the personas I created (every visibility).

import { currentUser } from "../api.js";
import { creatorPersonas } from "../community.js";
import { h } from "../dom.js";
import { emptyState } from "../ui.js";

/** @param {HTMLElement} main */
export function render(main) {
  const me = /** @type {import("../api.js").User} */ (currentUser()); // a members' page
  const cards = h("ul", { class: "cards", id: "my-personas", "aria-label": "My personas" });
  const sentinel = h("div", { class: "end-of-list" });
  const none = () =>
    emptyState(
      "You have not created a persona yet.",
      h(
        "div",
        { class: "row" },
        h("a", { class: "button primary", href: "#/create" }, "Draft one from an idea"),
        h("a", { class: "button", href: "#/new" }, "Start from a blank form or a card"),
      ),
    );
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
  const scroll = creatorPersonas(cards, sentinel, me.id, none);
  return () => scroll.stop();
}
