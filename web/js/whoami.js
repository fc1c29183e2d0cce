// @ts-check
// Who the signed-in person plays in chats (their user persona: a name and a short description),
// the name `{{user}}` stands for on persona pages, and the form that edits it.

import { api, currentUser, onAuthChange } from "./api.js";
import { h } from "./dom.js";
import { markup, YOU } from "./markup.js";
import { busy, field, toast } from "./ui.js";

/**
 * Who I play: a name and a short description.
 * @typedef {{name: string, description: string}} UserPersona
 */

/** @type {UserPersona | null} the account's user persona, once loaded (null: none set) */
let known = null;
/** @type {Promise<UserPersona | null> | null} the request loading it */
let loading = null;

onAuthChange(() => {
  known = null;
  loading = null;
});

/**
 * The account's user persona (`GET /users/me/persona`), loaded once per sign-in.
 * @returns {Promise<UserPersona | null>}
 */
export function loadUserPersona() {
  if (!currentUser()) return Promise.resolve(null);
  if (!loading) {
    loading = api.get("/users/me/persona").then((persona) => {
      known = persona;
      return persona;
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

/**
 * The name `{{user}}` shows now: the user persona's, else the display name, else "you".
 * @param {{name: string}|null} [override] a conversation's own user persona
 * @returns {string}
 */
export function userName(override = null) {
  const me = currentUser();
  if (override?.name) return override.name;
  if (known?.name) return known.name;
  return me?.display_name || YOU;
}

/**
 * A persona's text (description, greeting, …) with role-play markup and names filled in, as an
 * inline element; redrawn once the user persona is known. `null` for empty text.
 * @param {string} text
 * @param {{name: string}} persona
 * @returns {HTMLElement|null}
 */
export function personaText(text, persona) {
  if (!text) return null;
  const el = h("span", { class: "rich" });
  const draw = () => el.replaceChildren(markup(text, { char: persona.name, user: userName() }));
  draw();
  if (currentUser() && loading === null) loadUserPersona().then(draw, () => {});
  else if (loading) loading.then(draw, () => {});
  return el;
}

/**
 * Name and description fields for a user persona.
 * @param {{name?: string, description?: string} | null | undefined} value
 * @param {string} prefix distinguishes the fields' ids and names
 */
export function personaFields(value, prefix = "") {
  const name = h("input", {
    type: "text",
    name: `${prefix}name`,
    value: value?.name || "",
    maxlength: "80",
    autocomplete: "off",
  });
  const description = h("textarea", {
    name: `${prefix}description`,
    value: value?.description || "",
    maxlength: "4000",
    rows: "3",
  });
  return { name, description, read: () => ({ name: name.value.trim(), description: description.value.trim() }) };
}

/**
 * The account page's section: who I am in chats, saved with `PUT /users/me/persona`.
 * @returns {HTMLElement}
 */
export function userPersonaPanel() {
  const panel = h("section", { class: "panel", "aria-labelledby": "user-persona-title", id: "user-persona" });
  const fields = personaFields(null);
  const save = h("button", { type: "submit", class: "primary" }, "Save persona");
  const clear = h("button", { type: "button" }, "Forget it");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Your persona in chats" },
    field("Name in chats", fields.name, {
      hint: "What personas call you: {{user}} in greetings and prompts. Empty: your display name.",
    }),
    field("About you", fields.description, { hint: "A few lines the persona knows about who you play." }),
    h("div", { class: "row" }, save, clear),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = fields.read();
    busy(
      save,
      async () => {
        if (body.name) known = await api.put("/users/me/persona", body);
        else {
          await api.del("/users/me/persona");
          known = null;
        }
        loading = Promise.resolve(known);
        toast(body.name ? `In chats you are now ${body.name}.` : "Your persona was forgotten.", "success");
      },
      form,
    );
  });
  clear.addEventListener("click", () =>
    busy(clear, async () => {
      await api.del("/users/me/persona");
      known = null;
      loading = Promise.resolve(null);
      fields.name.value = "";
      fields.description.value = "";
      toast("Your persona was forgotten: personas call you by your display name.", "success");
    }),
  );
  panel.append(h("h2", { id: "user-persona-title" }, "Who you are in chats"), form);
  loadUserPersona()
    .then((persona) => {
      // What was typed meanwhile wins over what was loaded.
      if (persona && !fields.name.value) fields.name.value = persona.name;
      if (persona && !fields.description.value) fields.description.value = persona.description;
    })
    .catch(() => {});
  return panel;
}
