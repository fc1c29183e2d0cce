// @ts-check
// `#/settings`: content settings. Adult (NSFW) personas are hidden from Explore, search and the
// feed until the account turns them on, which needs a confirmation of being 18 or older; the
// server applies the setting to every listing.

import { contentSettings, saveContentSettings } from "../adult.js";
import { h, uid } from "../dom.js";
import { safeNext } from "../door.js";
import { go } from "../router.js";
import { busy, toast } from "../ui.js";

/**
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export async function render(main, { query }) {
  const current = await contentSettings();
  const next = safeNext(query.next);
  const showHint = uid("show-nsfw-hint");
  const show = h("input", {
    type: "checkbox",
    name: "show_nsfw",
    checked: current.show_nsfw,
    "aria-describedby": showHint,
  });
  const confirm = h("input", { type: "checkbox", name: "confirm_adult" });
  const confirmField = h(
    "div",
    { class: "field", hidden: true },
    h("label", { class: "check" }, confirm, "I confirm that I am 18 or older"),
    h("div", { class: "field-error", id: uid("confirm-adult-error"), hidden: true }),
  );
  const save = h("button", { type: "submit", class: "primary" }, "Save settings");
  const form = h(
    "form",
    { class: "panel", novalidate: true, "aria-label": "Content settings" },
    h("h2", {}, "Adult content"),
    h(
      "div",
      { class: "field" },
      h("label", { class: "check" }, show, "Show adult (NSFW) personas in Explore, search and the feed"),
      h(
        "span",
        { class: "hint", id: showHint },
        "Off by default. Your own personas always show to you. Adult personas carry an 18+ label; with this off, opening one asks first.",
      ),
      h("div", { class: "field-error", id: uid("show-nsfw-error"), hidden: true }),
    ),
    confirmField,
    current.adult_confirmed_at
      ? h(
          "p",
          { class: "muted small" },
          `Age last confirmed ${new Date(current.adult_confirmed_at).toLocaleDateString()}.`,
        )
      : null,
    h("div", { class: "row form-actions" }, save, next ? h("a", { class: "button", href: `#${next}` }, "Back") : null),
  );
  // Turning it on asks for the confirmation every time; turning it off asks nothing.
  const paint = () => {
    confirmField.hidden = !(show.checked && !current.show_nsfw);
    if (confirmField.hidden) confirm.checked = false;
  };
  show.addEventListener("change", paint);
  paint();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(
      save,
      async () => {
        /** @type {{show_nsfw: boolean, confirm_adult?: boolean}} */
        const body = { show_nsfw: show.checked };
        if (show.checked && !current.show_nsfw) body.confirm_adult = confirm.checked;
        const saved = await saveContentSettings(body);
        Object.assign(current, saved);
        paint();
        toast(saved.show_nsfw ? "Adult content is on." : "Adult content is off.", "success");
        if (next) go(next);
      },
      form,
    );
  });
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Content settings")), form);
}
