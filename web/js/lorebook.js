// @ts-check
// The lorebook (`character_book`) on the persona form: its entries with keys, content, enabled and
// insertion order; add and remove entries. What the form does not show (the book's name, scan
// depth, an entry's secondary keys, extensions, unknown keys of imported cards) is kept as it
// came, and a field left untouched is sent back exactly as it was.

import { $$, h, uid } from "./dom.js";

/**
 * A lorebook entry as stored (Character Card V2's `character_book.entries[]`): the form reads and
 * writes a few fields and keeps the others.
 * @typedef {{keys?: string[], content?: string, enabled?: boolean, insertion_order?: number | null, id?: number, comment?: string, name?: string, [field: string]: unknown}} Entry
 */

/**
 * One entry's editor.
 * @typedef {{el: HTMLElement, label: (n: number) => void, focus: () => void, value: () => Entry}} EntryEditor
 */

/**
 * "a, b ,c" → ["a", "b", "c"] (empty ones dropped).
 * @param {string} text
 */
function keyList(text) {
  return text
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
}

/**
 * One entry's fieldset. `base` is the entry as stored (null for a new one).
 * @param {Entry | null} base
 * @param {{insertion_order?: number, id?: number}} defaults a new entry's order and id
 * @param {() => void} onRemove
 * @returns {EntryEditor}
 */
function entryEditor(base, defaults, onRemove) {
  const start = {
    keys: (base?.keys || []).join(", "),
    content: base?.content ?? "",
    enabled: base ? base.enabled !== false : true,
    order:
      base && base.insertion_order !== undefined && base.insertion_order !== null
        ? String(base.insertion_order)
        : String(defaults.insertion_order),
  };
  const keys = h("input", { type: "text", name: "lore_keys", autocomplete: "off", value: start.keys });
  const content = h("textarea", { name: "lore_content", maxlength: "32768", value: start.content });
  const enabled = h("input", { type: "checkbox", name: "lore_enabled", checked: start.enabled });
  const order = h("input", {
    type: "number",
    name: "lore_order",
    step: "any",
    inputmode: "numeric",
    value: start.order,
    class: "order",
  });
  // The textarea's value normalises line breaks: compare with what it showed, not with the source.
  const shown = { keys: keys.value, content: content.value, order: order.value };
  const legend = h("legend", {});
  const remove = h("button", { type: "button", class: "small danger" }, "Remove entry");
  /**
   * @param {string} text
   * @param {HTMLInputElement | HTMLTextAreaElement} control
   * @param {string} [hint]
   */
  const labelled = (text, control, hint) => {
    control.id = uid("lore");
    const hintId = hint ? `${control.id}-hint` : null;
    if (hintId) control.setAttribute("aria-describedby", hintId);
    return h(
      "div",
      { class: "field" },
      h("label", { for: control.id }, text),
      hint ? h("span", { class: "hint", id: hintId }, hint) : null,
      control,
    );
  };
  const el = h(
    "fieldset",
    { class: "lore-entry" },
    legend,
    labelled("Keys", keys, "Comma separated; the entry is used when one appears in the chat."),
    labelled("Content", content),
    h(
      "div",
      { class: "row lore-meta" },
      h("label", { class: "check" }, enabled, "Enabled"),
      labelled("Insertion order", order),
      remove,
    ),
  );
  remove.addEventListener("click", onRemove);
  return {
    el,
    /** @param {number} n */
    label(n) {
      const title = base?.comment || base?.name;
      legend.textContent = title ? `Entry ${n}: ${title}` : `Entry ${n}`;
      el.setAttribute("aria-label", `Lorebook entry ${n}`);
      remove.setAttribute("aria-label", `Remove lorebook entry ${n}`);
    },
    focus: () => keys.focus(),
    value() {
      /** @type {Entry} */
      const out = base
        ? { ...base }
        : {
            keys: [],
            content: "",
            extensions: {},
            enabled: true,
            insertion_order: defaults.insertion_order,
            id: defaults.id,
          };
      if (keys.value !== shown.keys) out.keys = keyList(keys.value);
      if (content.value !== shown.content) out.content = content.value;
      if (enabled.checked !== start.enabled) out.enabled = enabled.checked;
      if (order.value !== shown.order) out.insertion_order = Number(order.value) || 0;
      return out;
    },
  };
}

/**
 * The lorebook editor for `book` (a persona's `character_book`, or null).
 * @param {{entries?: Entry[], [field: string]: unknown} | null | undefined} book
 * @returns {{el: HTMLElement, value: () => object | null, count: () => number}} `value()`: the book
 *   to save, null when there was none and no entry was added
 */
export function lorebookEditor(book) {
  /** @type {EntryEditor[]} */
  const entries = [];
  const list = h("div", { class: "lore-entries" });
  const count = h("span", { class: "muted small" });
  const empty = h("p", { class: "muted small lore-empty" }, "No entries yet.");
  const relabel = () => {
    for (const [i, e] of entries.entries()) e.label(i + 1);
    count.textContent = entries.length === 1 ? "1 entry" : `${entries.length} entries`;
    empty.hidden = entries.length > 0;
  };
  const next = () => {
    const all = entries.map((e) => e.value());
    const orders = all.map((e) => Number(e.insertion_order)).filter(Number.isFinite);
    const ids = all.map((e) => Number(e.id)).filter(Number.isInteger);
    return {
      insertion_order: orders.length ? Math.max(...orders) + 10 : 100,
      id: ids.length ? Math.max(...ids) + 1 : 1,
    };
  };
  /** @param {Entry | null} base */
  const add = (base) => {
    const entry = entryEditor(base, base ? {} : next(), () => {
      entries.splice(entries.indexOf(entry), 1);
      entry.el.remove();
      relabel();
      addButton.focus();
    });
    entries.push(entry);
    list.append(entry.el);
    relabel();
    return entry;
  };
  const addButton = h("button", { type: "button", class: "small" }, "Add a lorebook entry");
  addButton.addEventListener("click", () => add(null).focus());
  for (const entry of book?.entries || []) add(entry);
  relabel();

  const titleId = uid("lorebook");
  const el = h(
    "fieldset",
    { class: "panel lorebook", name: "character_book", "aria-labelledby": titleId },
    h("div", { class: "row spread" }, h("h2", { id: titleId }, "Lorebook"), count),
    h(
      "p",
      { class: "hint" },
      "World facts the model is told only when they come up: an entry's content is added to the prompt when one of its keys appears in the recent messages.",
    ),
    h("div", { class: "field-error", id: `${titleId}-error`, hidden: true }),
    empty,
    list,
    addButton,
  );
  return {
    el,
    value() {
      if (!book && !entries.length) return null;
      return { ...(book || { extensions: {} }), entries: entries.map((e) => e.value()) };
    },
    count: () => $$(".lore-entry", list).length,
  };
}
