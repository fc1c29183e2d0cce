// @ts-check
// Small shared pieces of UI: toasts, form errors next to their field, progress bars, avatars, dates.

import { ApiError, api } from "./api.js";
import { $, $$, clear, h, uid } from "./dom.js";

/**
 * @param {string} message
 * @param {"info" | "success" | "error"} [kind]
 * @param {number} [ms] how long it stays
 */
export function toast(message, kind = "info", ms = 5000) {
  const region = /** @type {HTMLElement} */ (document.getElementById("toasts"));
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : null }, message);
  region.append(el);
  setTimeout(() => el.remove(), ms);
  return el;
}

/** @param {unknown} err */
export function errorMessage(err) {
  if (err instanceof ApiError) return err.message;
  // Not an answer from the API: a bug. Logged as an error so it is never silent.
  console.error(err);
  return "Something went wrong. Please try again.";
}

/**
 * A labelled form control with its hint and error slot. `control` is the input element; its
 * `name` is what server errors (`details.field`) are matched against.
 */
/**
 * @param {string} labelText
 * @param {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} control
 * @param {{hint?: string | null, wide?: boolean}} [options]
 */
export function field(labelText, control, { hint, wide } = {}) {
  const id = control.id || uid(control.name || "field");
  control.id = id;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: wide ? "field wide" : "field", dataset: { field: control.name || "" } },
    h("label", { for: id }, labelText),
    hint ? h("span", { class: "hint", id: hintId }, hint) : null,
    control,
    h("div", { class: "field-error", id: errorId, hidden: true }),
  );
}

/** @param {HTMLElement} form */
export function clearErrors(form) {
  for (const el of $$(".field-error", form)) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of $$("[aria-invalid]", form)) {
    el.removeAttribute("aria-invalid");
    const described = (el.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && !x.endsWith("-error"));
    if (described.length) el.setAttribute("aria-describedby", described.join(" "));
    else el.removeAttribute("aria-describedby");
  }
  const general = $(".form-error", form);
  if (general) general.remove();
}

/**
 * Show `err` next to the control it names (`details.field`), else at the top of the form.
 * @param {HTMLElement} form
 * @param {unknown} err
 */
export function showError(form, err) {
  clearErrors(form);
  const message = errorMessage(err);
  const name = err instanceof ApiError ? controlName(err.field) : "";
  /** @type {HTMLElement | null} */
  const control = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  if (control) {
    /** @type {HTMLElement | null | undefined} */
    const slot = control.closest(".field, fieldset")?.querySelector(".field-error");
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
      control.setAttribute("aria-invalid", "true");
      const described = new Set((control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
      described.add(slot.id);
      control.setAttribute("aria-describedby", [...described].join(" "));
      control.focus();
      return;
    }
  }
  const box = h("div", { class: "form-error", role: "alert" }, message);
  form.prepend(box);
  box.scrollIntoView({ block: "nearest" });
}

/** `tags[2]` → `tags`, `query.q` → `q`, `alternate_greetings[0]` → `alternate_greetings`. */
/** @param {string} path */
export function controlName(path) {
  if (!path) return "";
  const parts = path.replace(/^query\./, "").replace(/^body$/, "");
  return parts.split(/[.[]/)[0];
}

/**
 * Run `work` with `button` disabled and marked busy; errors go to `form` (or a toast), and then
 * the result is undefined.
 * @template T
 * @param {HTMLButtonElement | null} button
 * @param {() => T | Promise<T>} work
 * @param {HTMLElement | null} [form]
 * @returns {Promise<T | undefined>}
 */
export async function busy(button, work, form = null) {
  const label = button ? button.textContent : "";
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    if (form) clearErrors(form);
    return await work();
  } catch (err) {
    if (form) showError(form, err);
    else toast(errorMessage(err), "error");
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (button.textContent !== label && !button.dataset.keepLabel) button.textContent = label;
    }
  }
}

/**
 * Submitting `form` runs `work` through `busy`: `button` waits, errors land in the form.
 * @param {HTMLFormElement} form
 * @param {HTMLButtonElement} button
 * @param {() => unknown} work
 */
export function onSubmit(form, button, work) {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(button, work, form);
  });
}

/**
 * GET `path` for `panel`; when that fails, the panel says why instead and the answer is null.
 * @param {HTMLElement} panel
 * @param {string} path
 */
export async function getFor(panel, path) {
  try {
    return await api.get(path);
  } catch (err) {
    replace(panel, h("p", { class: "form-error", role: "alert" }, errorMessage(err)));
    return null;
  }
}

/**
 * Take the files dropped on `zone`, highlighting it while something is dragged over.
 * @param {HTMLElement} zone
 * @param {(files: FileList) => void} take
 */
export function onDrop(zone, take) {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer) take(e.dataTransfer.files);
  });
}

/**
 * A labelled <progress>: `set(value 0..100 | null for indeterminate, text)`.
 * @param {string} labelText
 */
export function progressBar(labelText) {
  const id = uid("progress");
  const bar = h("progress", { id, max: "100", "aria-labelledby": `${id}-label` });
  const status = h("span", { class: "progress-value" }, "");
  const label = h("span", { id: `${id}-label` }, labelText);
  const el = h("div", { class: "progress" }, h("div", { class: "progress-label" }, label, status), bar);
  return {
    el,
    bar,
    /**
     * @param {number | null | undefined} value
     * @param {string} [text]
     */
    set(value, text) {
      if (value === null || value === undefined) bar.removeAttribute("value");
      else bar.value = Math.max(0, Math.min(100, value));
      status.textContent = text ?? (value === null || value === undefined ? "" : `${Math.round(value)}%`);
    },
    /** @param {string} text */
    label(text) {
      label.textContent = text;
    },
  };
}

/** @param {string | null | undefined} name */
export function initials(name) {
  const words = String(name || "?")
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 2)).toUpperCase();
}

/** @param {number | null | undefined} n */
export function formatCount(n) {
  const value = Number(n || 0);
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(1).replace(/\.0$/, "")}M`;
  if (value >= 1000) return `${(value / 1000).toFixed(1).replace(/\.0$/, "")}k`;
  return String(value);
}

/**
 * A count with its noun, the only way the UI writes one: "1 like", "2 likes", "1.2k likes",
 * "0 chats". `many` is the plural when adding an "s" is wrong.
 * @param {number} n
 * @param {string} one
 * @param {string} [many]
 */
export function plural(n, one, many = `${one}s`) {
  return `${formatCount(n)} ${Number(n || 0) === 1 ? one : many}`;
}

// Written out in English like the rest of the UI (`plural`), not with Intl.RelativeTimeFormat:
// making one loads the locale's data, a long task (~200 ms on a phone) on every page showing a time.
/** @type {Record<string, [string, string]>} */
const NEXT_TO_NOW = {
  day: ["yesterday", "tomorrow"],
  month: ["last month", "next month"],
  year: ["last year", "next year"],
};
/** @param {string | null | undefined} iso */
export function timeAgo(iso) {
  if (!iso) return "";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  /** @type {[number, string][]} */
  const steps = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
    [Infinity, "year"],
  ];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) {
      const n = Math.round(value);
      if (n === 0) return unit === "second" ? "now" : `this ${unit}`;
      if (Math.abs(n) === 1 && NEXT_TO_NOW[unit]) return NEXT_TO_NOW[unit][n < 0 ? 0 : 1];
      return n < 0 ? `${plural(-n, unit)} ago` : `in ${plural(n, unit)}`;
    }
    value /= size;
  }
  return "";
}

/** @param {number | null | undefined} n */
export function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let value = Number(n || 0);
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return `${value.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * What `ask` shows: a question, and with `input` a text field whose value it resolves to.
 * @typedef {object} AskOptions
 * @property {string} title
 * @property {string} [body]
 * @property {string} [confirm] the confirming button's label
 * @property {{label: string, maxlength?: number, value?: string, multiline?: boolean} | null} [input]
 * @property {boolean} [danger]
 */

/**
 * A modal dialog asking for confirmation (or text, with `input`); resolves to false/null on cancel.
 * @overload
 * @param {AskOptions & {input: NonNullable<AskOptions["input"]>}} options
 * @returns {Promise<string | null>}
 */
/**
 * @overload
 * @param {AskOptions & {input?: null}} options
 * @returns {Promise<boolean>}
 */
/**
 * @param {AskOptions} options
 * @returns {Promise<string | boolean | null>}
 */
export function ask({ title, body = "", confirm = "OK", input = null, danger = false }) {
  return new Promise((resolve) => {
    /** @type {HTMLInputElement | HTMLTextAreaElement | null} */
    let control = null;
    const form = h("form", { method: "dialog" }, h("h2", {}, title), body ? h("p", {}, body) : null);
    if (input) {
      control = input.multiline
        ? h("textarea", {
            name: "value",
            required: true,
            maxlength: input.maxlength || null,
            value: input.value || null,
          })
        : h("input", {
            type: "text",
            name: "value",
            required: true,
            maxlength: input.maxlength || null,
            value: input.value || null,
          });
      form.append(field(input.label, control));
    }
    const cancel = h("button", { type: "button", value: "cancel" }, "Cancel");
    const ok = h("button", { type: "submit", class: danger ? "danger" : "primary", value: "ok" }, confirm);
    form.append(h("div", { class: "row" }, ok, cancel));
    const dialog = h("dialog", { "aria-label": title }, form);
    document.body.append(dialog);
    /** @type {string | boolean | null} */
    let result = input ? null : false;
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      result = control ? control.value.trim() || null : true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    dialog.showModal();
    (control || ok).focus();
  });
}

/**
 * A modal with one button per choice; resolves with the chosen `value`, or null when cancelled.
 * @param {{title: string, body?: string, choices: {value: string, label: string, danger?: boolean}[]}} options
 * @returns {Promise<string|null>}
 */
export function choose({ title, body = "", choices }) {
  return new Promise((resolve) => {
    /** @type {string | null} */
    let result = null;
    const buttons = choices.map((c, i) => {
      const b = h("button", { type: "button", class: c.danger ? "danger" : i === 0 ? "primary" : "" }, c.label);
      b.addEventListener("click", () => {
        result = c.value;
        dialog.close();
      });
      return b;
    });
    const cancel = h("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", () => dialog.close());
    const dialog = h(
      "dialog",
      { "aria-label": title },
      h("h2", {}, title),
      body ? h("p", {}, body) : null,
      h("div", { class: "row" }, buttons, cancel),
    );
    document.body.append(dialog);
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    dialog.showModal();
    buttons[0].focus();
  });
}

/**
 * @param {string} text
 * @param {Node | null} [action]
 */
export function emptyState(text, action = null) {
  return h("div", { class: "panel muted" }, h("p", {}, text), action);
}

/**
 * A table of things the user can act on: `columns` head it, and a last column holds each row's
 * buttons (its header is for screen readers only, as is the caption).
 * @param {{class: string, caption: string, columns: string[]}} head
 * @param {HTMLTableRowElement[]} rows
 */
export function actionTable({ class: className, caption, columns }, rows) {
  return h(
    "table",
    { class: className },
    h("caption", { class: "visually-hidden" }, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((column) => h("th", { scope: "col" }, column)),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    h("tbody", {}, rows),
  );
}

/**
 * @template {Element} E
 * @param {E} el
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {E}
 */
export function replace(el, ...children) {
  clear(el);
  for (const child of children) if (child) el.append(child);
  return el;
}
