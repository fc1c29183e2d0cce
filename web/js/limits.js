// @ts-check
// A paste longer than a field's `maxlength` is cut by the browser without a word. This says so
// next to the field, so nobody saves half of a pasted character description believing it whole.
// One listener for the whole document: every input and textarea with a maxlength is covered.

import { h } from "./dom.js";

const SUFFIX = "-paste-cut";

/** @typedef {HTMLInputElement | HTMLTextAreaElement} Control */

/**
 * The text the control will receive: a textarea keeps newlines as "\n", an input drops them.
 * @param {Control} control
 * @param {string} text
 */
function normalised(control, text) {
  return control instanceof HTMLTextAreaElement ? text.replace(/\r\n?/g, "\n") : text.replace(/[\r\n]/g, "");
}

/** @param {Control} control */
function noteOf(control) {
  return control.id ? document.getElementById(control.id + SUFFIX) : null;
}

/**
 * @param {Control} control
 * @param {string} id the note's
 * @param {boolean} on
 */
function describe(control, id, on) {
  const ids = new Set((control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
  if (on) ids.add(id);
  else ids.delete(id);
  if (ids.size) control.setAttribute("aria-describedby", [...ids].join(" "));
  else control.removeAttribute("aria-describedby");
}

/** @param {Control} control */
function hide(control) {
  const note = noteOf(control);
  if (!note) return;
  describe(control, note.id, false);
  note.remove();
}

/**
 * @param {Control} control
 * @param {number} limit
 * @param {number} dropped characters left out
 */
function show(control, limit, dropped) {
  hide(control);
  if (!control.id) control.id = `${control.name || "field"}-${Math.random().toString(36).slice(2, 8)}`;
  const note = h(
    "p",
    { class: "paste-cut", id: control.id + SUFFIX, role: "status" },
    `Your paste was cut to fit: this field takes at most ${limit.toLocaleString()} characters, so the last ${dropped.toLocaleString()} ${dropped === 1 ? "was" : "were"} left out.`,
  );
  control.after(note);
  describe(control, note.id, true);
}

document.addEventListener("paste", (event) => {
  const control = event.target;
  if (!(control instanceof HTMLTextAreaElement || control instanceof HTMLInputElement)) return;
  const limit = control.maxLength;
  if (!(limit > 0) || !event.clipboardData) return;
  const pasted = normalised(control, event.clipboardData.getData("text/plain"));
  const selected = Math.max(0, (control.selectionEnd ?? 0) - (control.selectionStart ?? 0));
  const room = Math.max(0, limit - (control.value.length - selected));
  if (pasted.length > room) show(control, limit, pasted.length - room);
  else hide(control);
});

// Once the text is shorter than the limit again, the note has done its job.
document.addEventListener("input", (event) => {
  const control = event.target;
  if (control instanceof HTMLTextAreaElement || control instanceof HTMLInputElement) {
    if (control.maxLength > 0 && control.value.length < control.maxLength) hide(control);
  }
});
