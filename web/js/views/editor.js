// @ts-check
// Create and edit a persona with every field, its lorebook included; import a character card (PNG
// or JSON, drag and drop); the avatar (upload, generate, pick from the gallery).

import { ApiError, api, upload } from "../api.js";
import { $$, h, uid } from "../dom.js";
import { mediaPanel } from "../gallery.js";
import { lorebookEditor } from "../lorebook.js";
import { avatar, follow, generate, uploadFile, urlFor } from "../media.js";
import { go } from "../router.js";
import { busy, clearErrors, errorMessage, field, onDrop, progressBar, replace, showError, toast } from "../ui.js";

const TEXT_FIELDS = [
  "name",
  "tagline",
  "description",
  "personality",
  "scenario",
  "greeting",
  "example_dialogues",
  "system_prompt",
  "post_history_instructions",
  "creator_notes",
  "creator",
  "character_version",
];

/**
 * A persona, whole (edit) or in part (new, draft, import): the form reads the fields it shows.
 * @typedef {Record<string, any>} PersonaFields
 */

/**
 * What `personaForm` returns.
 * @typedef {ReturnType<typeof personaForm>} PersonaForm
 */

/**
 * A list of texts (alternate greetings): add, remove, each its own textarea.
 * @param {string} name
 * @param {string} label
 * @param {string[] | null | undefined} values
 * @param {{hint: string, addLabel: string}} options
 */
function listEditor(name, label, values, { hint, addLabel }) {
  const items = h("div", { class: "items" });
  const legendId = uid(name);
  /** @param {string} [value] */
  const add = (value = "") => {
    const n = items.children.length + 1;
    const area = h("textarea", { name, "aria-label": `${label} ${n}`, value, maxlength: "32768" });
    const remove = h(
      "button",
      { type: "button", class: "small", "aria-label": `Remove ${label.toLowerCase()} ${n}` },
      "Remove",
    );
    const row = h("div", { class: "item" }, area, remove);
    remove.addEventListener("click", () => {
      row.remove();
      for (const [i, t] of $$("textarea", items).entries()) t.setAttribute("aria-label", `${label} ${i + 1}`);
    });
    items.append(row);
    return area;
  };
  for (const value of values || []) add(value);
  const addButton = h("button", { type: "button", class: "small" }, addLabel);
  addButton.addEventListener("click", () => add().focus());
  const el = h(
    "fieldset",
    { class: "list-editor", dataset: { field: name }, "aria-describedby": hint ? `${legendId}-hint` : null },
    h("legend", { id: legendId }, label),
    hint ? h("p", { class: "hint", id: `${legendId}-hint` }, hint) : null,
    items,
    addButton,
    h("div", { class: "field-error", id: `${legendId}-error`, hidden: true }),
  );
  return {
    el,
    values: () =>
      /** @type {HTMLTextAreaElement[]} */ ($$("textarea", items)).map((t) => t.value).filter((v) => v.trim() !== ""),
    /** @param {string[] | null | undefined} list */
    set: (list) => {
      items.replaceChildren();
      for (const v of list || []) add(v);
    },
  };
}

/**
 * "a, b, A" → ["a", "b"]: trimmed, empty and repeated (in any case) ones dropped.
 * @param {string} text
 */
function parseTags(text) {
  const seen = new Set();
  /** @type {string[]} */
  const tags = [];
  for (const raw of text.split(",")) {
    const tag = raw.trim();
    if (tag && !seen.has(tag.toLowerCase())) {
      seen.add(tag.toLowerCase());
      tags.push(tag);
    }
  }
  return tags;
}

/**
 * The persona form. `initial` is a Persona (edit) or a partial one (new, draft, import).
 * Returns `{form, values(), fill(fields), submit}`.
 * @param {PersonaFields} [initial]
 * @param {{submitLabel?: string, extraButtons?: HTMLElement[]}} [options]
 */
export function personaForm(initial = {}, { submitLabel = "Save persona", extraButtons = [] } = {}) {
  const nsfwHint = uid("nsfw-hint");
  /** @type {Record<string, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement> & {nsfw: HTMLInputElement, tags: HTMLInputElement, visibility: HTMLSelectElement}} */
  const controls = {
    name: h("input", { type: "text", name: "name", maxlength: "80", required: true, autocomplete: "off" }),
    tagline: h("input", { type: "text", name: "tagline", maxlength: "200", autocomplete: "off" }),
    description: h("textarea", { name: "description", class: "tall", required: true, maxlength: "32768" }),
    personality: h("textarea", { name: "personality", maxlength: "32768" }),
    scenario: h("textarea", { name: "scenario", maxlength: "32768" }),
    greeting: h("textarea", { name: "greeting", required: true, maxlength: "32768" }),
    example_dialogues: h("textarea", { name: "example_dialogues", class: "tall", maxlength: "32768" }),
    system_prompt: h("textarea", { name: "system_prompt", maxlength: "32768" }),
    post_history_instructions: h("textarea", { name: "post_history_instructions", maxlength: "32768" }),
    creator_notes: h("textarea", { name: "creator_notes", maxlength: "32768" }),
    creator: h("input", { type: "text", name: "creator", maxlength: "200" }),
    character_version: h("input", { type: "text", name: "character_version", maxlength: "200" }),
    tags: h("input", { type: "text", name: "tags", autocomplete: "off" }),
    visibility: h(
      "select",
      { name: "visibility" },
      h("option", { value: "public" }, "Public: listed in the community"),
      h("option", { value: "unlisted" }, "Unlisted: anyone with the link"),
      h("option", { value: "private" }, "Private: only you"),
    ),
    nsfw: h("input", { type: "checkbox", name: "nsfw", "aria-describedby": nsfwHint }),
  };
  const greetings = listEditor("alternate_greetings", "Alternate greeting", initial.alternate_greetings, {
    hint: "Offered as swipes on the first message of a new chat.",
    addLabel: "Add an alternate greeting",
  });
  const lore = lorebookEditor(initial.character_book);
  let avatarId = initial.avatar_media_id || null;
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);

  const form = h(
    "form",
    { class: "persona-form", novalidate: true, "aria-label": "Persona" },
    h(
      "section",
      { class: "panel" },
      h("h2", {}, "Basics"),
      field("Name", controls.name),
      field("Tagline", controls.tagline, { hint: "One line shown on the community card." }),
      field("Description", controls.description, { hint: "Who they are: appearance, history, what they want." }),
      field("Tags", controls.tags, { hint: "Comma separated, e.g. fantasy, mentor, cozy (up to 20)." }),
      h(
        "div",
        { class: "row" },
        h("div", { class: "grow" }, field("Visibility", controls.visibility)),
        h(
          "div",
          { class: "field" },
          h("label", { class: "check" }, controls.nsfw, "Adult content (NSFW, 18+)"),
          h(
            "span",
            { class: "hint", id: nsfwHint },
            "Shown in Explore only to members who turned adult content on in their ",
            h("a", { href: "#/settings" }, "content settings"),
            ".",
          ),
          h("div", { class: "field-error", hidden: true }),
        ),
      ),
    ),
    h(
      "section",
      { class: "panel" },
      h("h2", {}, "Character"),
      field("Personality", controls.personality, { hint: "Traits and manner of speaking." }),
      field("Scenario", controls.scenario, { hint: "Where and when the conversation happens." }),
      field("Greeting", controls.greeting, { hint: "The first message of every new chat." }),
      greetings.el,
      field("Example dialogues", controls.example_dialogues, {
        hint: "Separate dialogues with <START>; {{char}} and {{user}} are replaced by the names.",
      }),
    ),
    lore.el,
    h(
      "details",
      { class: "panel" },
      h("summary", {}, h("strong", {}, "Advanced: prompts and card details")),
      field("System prompt", controls.system_prompt, { hint: "Replaces the default system prompt when set." }),
      field("Post-history instructions", controls.post_history_instructions, {
        hint: "Sent after the chat history, just before the reply.",
      }),
      field("Creator notes", controls.creator_notes, { hint: "For people using the card; never sent to the model." }),
      h(
        "div",
        { class: "row" },
        h("div", { class: "grow" }, field("Creator", controls.creator)),
        h("div", { class: "grow" }, field("Character version", controls.character_version)),
      ),
    ),
    h("div", { class: "row form-actions" }, submit, extraButtons),
  );

  /** @param {PersonaFields} p */
  const fill = (p) => {
    for (const name of TEXT_FIELDS) if (p[name] !== undefined && p[name] !== null) controls[name].value = p[name];
    if (p.tags) controls.tags.value = p.tags.join(", ");
    if (p.visibility) controls.visibility.value = p.visibility;
    if (p.nsfw !== undefined) controls.nsfw.checked = Boolean(p.nsfw);
    if (p.alternate_greetings) greetings.set(p.alternate_greetings);
    if (p.avatar_media_id !== undefined) avatarId = p.avatar_media_id;
  };
  fill({ visibility: "public", ...initial });

  const values = () => {
    /** @type {PersonaFields} */
    const out = {};
    for (const name of TEXT_FIELDS) out[name] = controls[name].value;
    out.name = out.name.trim();
    out.tagline = out.tagline.trim();
    out.tags = parseTags(controls.tags.value);
    out.visibility = controls.visibility.value;
    out.nsfw = controls.nsfw.checked;
    out.alternate_greetings = greetings.values();
    out.character_book = lore.value();
    if (avatarId) out.avatar_media_id = avatarId;
    return out;
  };

  return {
    form,
    submit,
    fill,
    controls,
    values,
    /** @param {string | null} id */
    setAvatar: (id) => {
      avatarId = id;
    },
    get avatarId() {
      return avatarId;
    },
  };
}

/**
 * Only the fields that differ, so an edit never rewrites what it did not touch.
 * @param {PersonaFields} before
 * @param {PersonaFields} after
 */
function changes(before, after) {
  /** @type {PersonaFields} */
  const out = {};
  for (const [key, value] of Object.entries(after)) {
    if (value === null && (before[key] ?? null) === null) continue;
    if (
      JSON.stringify(before[key] ?? (Array.isArray(value) ? [] : typeof value === "boolean" ? false : "")) !==
      JSON.stringify(value)
    )
      out[key] = value;
  }
  return out;
}

/**
 * The avatar box for a form not saved yet: upload a picture (no persona needed), or generate
 * one, which needs the persona saved first (generations belong to a persona): `ensureSaved`
 * saves it as a private draft, so nothing is published before "Save".
 * @param {PersonaForm} pf
 * @param {{ensureSaved: () => Promise<PersonaFields | null>}} options
 */
export function avatarBox(pf, { ensureSaved }) {
  const preview = h(
    "div",
    { class: "avatar-preview" },
    avatar({ name: pf.values().name || "?" }, { large: true, alt: "Avatar" }),
  );
  const progress = h("div", { "aria-live": "polite" });
  const file = h("input", {
    type: "file",
    accept: "image/jpeg,image/png,image/webp,image/gif",
    id: uid("avatar-file"),
    class: "visually-hidden",
  });
  const uploadLabel = h("label", { for: file.id, class: "button" }, "Upload a picture");
  const genButton = h("button", { type: "button" }, "Generate avatar");
  /** @param {any} item a ready media item */
  const showItem = (item) =>
    replace(preview, h("img", { class: "avatar large", src: urlFor(item, "optimized"), alt: "Avatar" }));
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    file.value = "";
    if (!chosen) return;
    const sent = progressBar("Uploading");
    const processing = progressBar("Processing");
    replace(progress, sent.el, processing.el);
    try {
      const accepted = await uploadFile(chosen, { onBytes: (l, t) => sent.set(t ? (l / t) * 100 : null) }).promise;
      sent.set(100, "sent");
      const item = await follow(accepted.media_id, accepted.job_id, ({ percent, stage }) =>
        processing.set(percent, `${percent}% · ${stage}`),
      );
      pf.setAvatar(item.id);
      showItem(item);
      replace(progress);
    } catch (err) {
      replace(progress, h("p", { class: "field-error" }, errorMessage(err)));
    }
  });
  genButton.addEventListener("click", () =>
    busy(genButton, async () => {
      const persona = await ensureSaved();
      if (!persona) return;
      const bar = progressBar("Generating avatar");
      bar.set(0, "queued");
      replace(progress, bar.el);
      const values = pf.values();
      // Private until it is the avatar: the server shares it then, if the persona is shared.
      const accepted = await generate(
        persona.id,
        "image",
        `Portrait of ${values.name}${values.tagline ? `, ${values.tagline}` : ""}`,
      );
      const item = await follow(accepted.media_id, accepted.job_id, ({ percent, stage }) =>
        bar.set(percent, `${percent}% · ${stage}`),
      );
      pf.setAvatar(item.id);
      await api.patch(`/personas/${encodeURIComponent(persona.id)}`, { avatar_media_id: item.id });
      showItem(item);
      replace(progress, h("p", { class: "muted small" }, "Avatar generated and set."));
    }),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "avatar-title" },
    h("h2", { id: "avatar-title" }, "Avatar"),
    h(
      "div",
      { class: "persona-head" },
      preview,
      h(
        "div",
        { class: "info" },
        h(
          "p",
          { class: "muted" },
          "Upload a picture, or generate one from the name and tagline (this saves the persona first, privately: nobody else sees it until you save it with its visibility).",
        ),
        h("div", { class: "row" }, uploadLabel, file, genButton),
        progress,
      ),
    ),
  );
}

/**
 * @param {PersonaForm} pf
 * @param {PersonaFields | null} existing the persona as saved, if it was
 * @param {{privately?: boolean}} [options] `privately`: saved as private whatever the form says
 * @returns {Promise<PersonaFields>}
 */
async function savePersona(pf, existing, { privately = false } = {}) {
  clearErrors(pf.form);
  const values = pf.values();
  if (privately) values.visibility = "private";
  let saved;
  if (existing) {
    const patch = changes(existing, values);
    saved = Object.keys(patch).length
      ? await api.patch(`/personas/${encodeURIComponent(existing.id)}`, patch)
      : existing;
  } else {
    saved = await api.post("/personas", values);
  }
  return saved;
}

/**
 * Wire a form for a persona not saved yet: `ensureSaved` (returned) saves it once as a private
 * draft, for what needs an id first (the avatar); submitting saves it with the chosen visibility
 * and opens its page.
 * @param {PersonaForm} pf
 * @param {{note: string, onFirstSave?: (saved: PersonaFields) => void}} options
 * @returns {() => Promise<PersonaFields | null>}
 */
export function unsavedPersona(pf, { note, onFirstSave = () => {} }) {
  /** @type {PersonaFields | null} */
  let saved = null;
  pf.form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(
      pf.submit,
      async () => {
        const persona = await savePersona(pf, saved);
        saved = persona;
        toast(`${persona.name} saved.`, "success");
        go(`/p/${persona.id}`);
      },
      pf.form,
    );
  });
  return async () => {
    if (saved) return saved;
    try {
      const persona = await savePersona(pf, null, { privately: true });
      saved = persona;
      onFirstSave(persona);
      toast(note, "success");
      pf.submit.textContent = "Save changes";
      return persona;
    } catch (err) {
      showError(pf.form, err);
      return null;
    }
  };
}

/**
 * Read a dropped or chosen card file and import it; resolves with the new persona.
 * @param {File} file
 * @param {string} [visibility]
 */
export async function importCard(file, visibility = "private") {
  const name = (file.name || "").toLowerCase();
  const isPng = file.type === "image/png" || name.endsWith(".png");
  const isJson = file.type === "application/json" || name.endsWith(".json");
  if (!isPng && !isJson)
    throw new ApiError(0, "bad_file", "A character card is a .png or .json file.", { field: "file" });
  const form = new FormData();
  form.append("file", file, file.name || (isPng ? "card.png" : "card.json"));
  return upload(`/personas/import?visibility=${encodeURIComponent(visibility)}`, form).promise;
}

function importPanel() {
  const input = h("input", {
    type: "file",
    accept: ".png,.json,image/png,application/json",
    id: "card-file",
    name: "file",
  });
  const visibility = h(
    "select",
    { name: "visibility", id: "import-visibility" },
    h("option", { value: "private" }, "Private"),
    h("option", { value: "unlisted" }, "Unlisted"),
    h("option", { value: "public" }, "Public"),
  );
  const status = h("p", { class: "muted small", role: "status" });
  const zone = h(
    "div",
    { class: "dropzone", id: "card-drop" },
    h(
      "label",
      { for: input.id },
      "Import a character card",
      h(
        "span",
        { class: "hint" },
        "A SillyTavern, Chub or RisuAI card: PNG or JSON (V1, V2, V3). Drop it here or choose a file.",
      ),
    ),
    input,
  );
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Import a character card" },
    h("div", { class: "field" }, zone, h("div", { class: "field-error", id: "card-file-error", hidden: true })),
    field("Visibility of the imported persona", visibility),
    status,
  );
  /** @param {File} file */
  const run = async (file) => {
    clearErrors(form);
    status.textContent = `Importing ${file.name}…`;
    try {
      const persona = await importCard(file, visibility.value);
      toast(`Imported ${persona.name}.`, "success");
      go(`/p/${persona.id}/edit`, { imported: "1" });
    } catch (err) {
      status.textContent = "";
      showError(form, err);
    }
  };
  input.addEventListener("change", () => input.files?.[0] && run(input.files[0]));
  onDrop(zone, (files) => files[0] && run(files[0]));
  return h(
    "section",
    { class: "panel", "aria-labelledby": "import-title" },
    h("h2", { id: "import-title" }, "Import"),
    form,
  );
}

/**
 * `#/new`: a blank persona, or an import.
 * @param {HTMLElement} main
 */
export function createView(main) {
  const pf = personaForm({}, { submitLabel: "Create persona" });
  const ensureSaved = unsavedPersona(pf, {
    note: "Saved as a private draft, so its avatar can be generated. Save to publish it.",
    onFirstSave: (saved) => history.replaceState(null, "", `#/p/${saved.id}/edit`),
  });
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "New persona"),
      h("a", { href: "#/create", class: "button" }, "Draft one from an idea instead"),
    ),
    importPanel(),
    avatarBox(pf, { ensureSaved }),
    pf.form,
  );
}

/**
 * `#/p/:id/edit`: every field, the avatar from the gallery, export.
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export async function editView(main, { params, query }) {
  let persona = await api.get(`/personas/${encodeURIComponent(params.id)}`);
  const pf = personaForm(persona, { submitLabel: "Save changes" });
  pf.form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(
      pf.submit,
      async () => {
        persona = await savePersona(pf, persona);
        toast(`${persona.name} saved.`, "success");
        go(`/p/${persona.id}`);
      },
      pf.form,
    );
  });
  const head = h(
    "div",
    { class: "persona-head" },
    avatar(persona, { large: true, alt: `${persona.name}'s avatar`, waitForOwn: true }),
    h(
      "div",
      { class: "info" },
      h("h1", {}, `Edit ${persona.name}`),
      query.imported
        ? h(
            "p",
            { class: "dev-hint", role: "status" },
            "Imported from a character card: check the fields below, then save.",
          )
        : null,
      h("p", {}, h("a", { href: `#/p/${persona.id}` }, "View the persona page")),
    ),
  );
  const panel = mediaPanel(persona, {
    title: "Avatar, images and videos",
    onAvatar: (updated) => {
      persona = updated;
      pf.setAvatar(updated.avatar_media_id);
      head.firstChild?.replaceWith(avatar(updated, { large: true, alt: `${updated.name}'s avatar`, waitForOwn: true }));
    },
  });
  main.append(head, pf.form, panel);
}
