// @ts-check
// The account page's API keys: create one with a name (its secret shown once, with a copy
// button), list them with their last use, revoke one.

import { api } from "../api.js";
import { h } from "../dom.js";
import { actionTable, ask, busy, field, getFor, onSubmit, replace, timeAgo, toast } from "../ui.js";

/**
 * An API key as the API lists it (`key` only in the answer that created it).
 * @typedef {{id: string, name: string, prefix?: string, created_at?: string, key?: string, last_used_at?: string | null}} ApiKey
 */

/**
 * Put `text` on the clipboard; true when it got there.
 * @param {string} text
 * @param {HTMLTextAreaElement} input selected instead when the clipboard cannot be reached
 */
async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard access (an insecure origin, a refused permission): select the text instead,
    // so Ctrl+C or the context menu finishes the job.
    input.focus();
    input.select();
    return false;
  }
}

/**
 * The new key, shown this once, with a copy button; "Done" forgets it.
 * @param {ApiKey & {key: string}} created
 * @param {() => void} onDone
 */
function revealed(created, onDone) {
  // A textarea, so the whole key shows on a phone too (an input would cut it off).
  const input = h("textarea", {
    name: "new_key",
    value: created.key,
    readOnly: true,
    rows: "2",
    spellcheck: "false",
    class: "mono",
    autocomplete: "off",
  });
  const copyButton = h("button", { type: "button", class: "primary" }, "Copy key");
  const done = h("button", { type: "button" }, "Done");
  copyButton.addEventListener("click", async () => {
    if (await copy(created.key, input)) {
      copyButton.textContent = "Copied";
      toast("Key copied to the clipboard.", "success");
    } else {
      toast("Cannot reach the clipboard here: the key is selected, press Ctrl+C (⌘C) to copy it.");
    }
  });
  input.addEventListener("focus", () => input.select());
  const box = h(
    "div",
    { class: "new-key", role: "region", "aria-labelledby": "new-key-title" },
    h("h3", { id: "new-key-title" }, `Your new key “${created.name}”`),
    h(
      "p",
      {},
      h("strong", {}, "Copy it now: it is shown only this once. "),
      "We keep only a fingerprint of it, so nobody (us included) can show it to you again.",
    ),
    field("API key", input),
    h("div", { class: "row" }, copyButton, done),
  );
  done.addEventListener("click", () => {
    box.remove();
    onDone();
  });
  return { box, focus: () => copyButton.focus() };
}

/** @param {ApiKey} key */
function lastUse(key) {
  return key.last_used_at ? `Last used ${timeAgo(key.last_used_at)}` : "Never used";
}

/**
 * @param {HTMLElement} list
 * @param {HTMLElement} heading focused after a revocation
 */
async function loadKeys(list, heading) {
  /** @type {ApiKey[] | null} */
  const keys = await getFor(list, "/auth/api-keys");
  if (!keys) return;
  if (!keys.length) {
    replace(list, h("p", { class: "muted", id: "no-keys" }, "No API keys yet."));
    return;
  }
  const rows = keys.map((key) => {
    const revoke = h("button", { type: "button", class: "small danger", "aria-label": `Revoke ${key.name}` }, "Revoke");
    revoke.addEventListener("click", async () => {
      const sure = await ask({
        title: `Revoke “${key.name}”?`,
        body: "Programs using this key are refused within a few seconds. This cannot be undone; you can create a new key.",
        confirm: "Revoke key",
        danger: true,
      });
      if (!sure) {
        revoke.focus();
        return;
      }
      await busy(revoke, async () => {
        await api.del(`/auth/api-keys/${encodeURIComponent(key.id)}`);
        toast(`Key “${key.name}” revoked.`, "success");
        await loadKeys(list, heading);
        heading.focus();
      });
    });
    return h(
      "tr",
      { dataset: { keyId: key.id } },
      h(
        "td",
        {},
        h("strong", { class: "key-name" }, key.name),
        h("div", { class: "muted small mono" }, `${key.prefix}…`),
      ),
      h("td", {}, `Created ${timeAgo(key.created_at)}`),
      h("td", { class: "key-last-use" }, lastUse(key)),
      h("td", {}, revoke),
    );
  });
  replace(
    list,
    actionTable({ class: "keys", caption: "Your API keys", columns: ["Key", "Created", "Last used"] }, rows),
  );
}

/** The "API keys" panel of the account page; its list loads by itself. */
export function apiKeysPanel() {
  const heading = h("h2", { id: "keys-title", tabindex: "-1" }, "API keys");
  const list = h("div", {}, h("p", { class: "muted" }, "Loading keys…"));
  const name = h("input", {
    type: "text",
    name: "name",
    maxlength: "80",
    required: true,
    autocomplete: "off",
    placeholder: "e.g. backup script",
  });
  const create = h("button", { type: "submit" }, "Create key");
  const slot = h("div", {});
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Create an API key", class: "key-form" },
    field("Key name", name, { hint: "So you recognise it in this list later." }),
    create,
  );
  onSubmit(form, create, async () => {
    const created = await api.post("/auth/api-keys", { name: name.value.trim() });
    name.value = "";
    const shown = revealed(created, () => heading.focus());
    replace(slot, shown.box);
    await loadKeys(list, heading);
    shown.focus();
  });
  loadKeys(list, heading);
  return h(
    "section",
    { class: "panel", "aria-labelledby": "keys-title" },
    heading,
    h(
      "p",
      { class: "muted" },
      "For scripts and other programs: send a key in the ",
      h("code", {}, "X-API-Key"),
      " header. A key acts as you until you revoke it, but cannot create keys or change your password. ",
      h("a", { href: "/docs" }, "API reference"),
    ),
    form,
    slot,
    list,
  );
}
