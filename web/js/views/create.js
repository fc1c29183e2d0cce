// @ts-check
// `#/create`: describe an idea in one line, watch the form fill in as the draft is written
// (`persona_draft_progress` carries JSON text, read leniently as it grows), then edit it,
// generate its avatar and save it.

import { ApiError, api } from "../api.js";
import { h, required } from "../dom.js";
import { live } from "../events.js";
import { parsePartial } from "../partial-json.js";
import { drafts } from "../store.js";
import { busy, field, replace, showError } from "../ui.js";
import { avatarBox, personaForm, unsavedPersona } from "./editor.js";

// What a draft fills in, and how the status line names the field being written.
const DRAFT_TEXT = ["name", "tagline", "description", "personality", "scenario", "greeting", "example_dialogues"];
const BLANK = { ...Object.fromEntries(DRAFT_TEXT.map((k) => [k, ""])), alternate_greetings: [], tags: [] };
/** @type {Record<string, string>} */
const LABELS = {
  name: "name",
  tagline: "tagline",
  description: "description",
  personality: "personality",
  scenario: "scenario",
  greeting: "greeting",
  alternate_greetings: "alternate greetings",
  example_dialogues: "example dialogues",
  tags: "tags",
};

/** @param {unknown[]} list */
function texts(list) {
  return /** @type {string[]} */ (list.filter((v) => typeof v === "string"));
}

/**
 * The fields of a partly read draft that fit the form (a half-written list keeps its strings).
 * @param {Record<string, any>} value
 */
function draftFields(value) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const key of DRAFT_TEXT) if (typeof value[key] === "string") out[key] = value[key];
  // A model writes traits and example exchanges as lists, and the other greetings as two keys
  // (the worker's DraftAnswer); the form shows them as the card keeps them, as the finished
  // draft will.
  if (Array.isArray(value.personality)) out.personality = texts(value.personality).join(", ");
  if (Array.isArray(value.example_dialogues))
    out.example_dialogues = value.example_dialogues
      .filter((/** @type {unknown} */ x) => x && typeof x === "object")
      .map(
        (/** @type {Record<string, unknown>} */ x) => `<START>\n{{user}}: ${x.user ?? ""}\n{{char}}: ${x.char ?? ""}`,
      )
      .join("\n");
  for (const key of ["alternate_greetings", "tags"]) if (Array.isArray(value[key])) out[key] = texts(value[key]);
  const others = texts([value.second_greeting, value.third_greeting]);
  if (others.length) out.alternate_greetings = others;
  if (typeof value.nsfw === "boolean") out.nsfw = value.nsfw;
  return out;
}

/**
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export function render(main, { query }) {
  const idea = h("input", {
    type: "text",
    name: "idea",
    minlength: "3",
    maxlength: "500",
    required: true,
    value: query.idea || "",
    placeholder: "a retired lighthouse keeper who collects storm stories",
  });
  const tags = h("input", { type: "text", name: "tags", autocomplete: "off" });
  const nsfw = h("input", { type: "checkbox", name: "nsfw" });
  const draftButton = h("button", { type: "submit", class: "primary" }, "Draft it");
  const ideaForm = h(
    "form",
    { novalidate: true, "aria-label": "Describe an idea" },
    field("Your idea, in one line", idea, { hint: "Who they are and what makes them interesting." }),
    h(
      "div",
      { class: "row" },
      h("div", { class: "grow" }, field("Tags (optional)", tags, { hint: "Comma separated." })),
      h("div", { class: "field" }, h("label", { class: "check" }, nsfw, "Adult content (NSFW)")),
    ),
    draftButton,
  );
  const status = h("p", { class: "muted", role: "status", id: "draft-status" });
  const editorSlot = h("div", { id: "draft-editor" });
  let stop = () => {};
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let poll;

  /** The form the draft fills in: read-only while it is written, then editable. */
  const preview = () => {
    const pf = personaForm({ visibility: "public" }, { submitLabel: "Save persona" });
    pf.form.inert = true;
    pf.form.classList.add("drafting");
    pf.form.setAttribute("aria-busy", "true");
    const heading = h("h2", { id: "draft-heading" }, "Your persona is being written…");
    replace(editorSlot, heading, pf.form);
    /** @type {number | null | undefined} */
    let attempt = null;
    let shown = "";
    return {
      /**
       * Fill in what the text so far holds (a new attempt starts the form over).
       * @param {import("../store.js").Draft} state
       */
      grow(state) {
        if (state.attempt !== attempt) {
          attempt = state.attempt;
          shown = "";
          pf.fill(BLANK);
        }
        if (!state.text || state.text === shown) return;
        shown = state.text;
        const { value, open } = parsePartial(state.text);
        if (!value) return;
        pf.fill(draftFields(value));
        for (const el of pf.form.querySelectorAll(".writing")) el.classList.remove("writing");
        if (open) {
          const control = pf.controls[open] || pf.form.querySelector(`[data-field="${CSS.escape(open)}"]`);
          control?.closest(".field, fieldset")?.classList.add("writing");
          status.textContent = `Writing the ${LABELS[open] || "persona"}…`;
        }
      },
      /**
       * The validated draft: every field as the server has it, now editable.
       * @param {Record<string, any>} draft
       */
      ready(draft) {
        pf.fill({ ...BLANK, ...draft });
        for (const el of pf.form.querySelectorAll(".writing")) el.classList.remove("writing");
        pf.form.inert = false;
        pf.form.classList.remove("drafting");
        pf.form.removeAttribute("aria-busy");
        heading.textContent = "Your draft: edit anything";
        const ensureSaved = unsavedPersona(pf, {
          note: "Saved as a private draft, so its avatar can be generated. Save to publish it.",
        });
        heading.after(avatarBox(pf, { ensureSaved }));
        required("[name=name]", pf.form).focus();
      },
    };
  };

  /** @param {string} jobId */
  const watch = (jobId) => {
    stop();
    status.textContent = "Writing your persona…";
    const form = preview();
    /** @param {import("../store.js").Draft | undefined} state */
    const settle = (state) => {
      if (!state) return;
      if (state.status === "pending") form.grow(state);
      if (state.status === "done") {
        stop();
        status.textContent = "Draft ready. Nothing is saved until you save it.";
        form.ready(state.draft);
      } else if (state.status === "failed") {
        stop();
        status.textContent = "";
        replace(editorSlot);
        showError(ideaForm, new ApiError(0, "draft_failed", `The draft failed: ${state.error || "no reason given"}`));
      }
    };
    const unsubscribe = drafts.subscribe(jobId, settle);
    // Missed events (a reconnect, a reload): the draft is also kept by the server.
    const check = async () => {
      try {
        const view = await api.get(`/personas/drafts/${encodeURIComponent(jobId)}`);
        if (view.status === "done")
          drafts.update(jobId, (prev) => ({ ...(prev || { text: "" }), jobId, status: "done", draft: view.draft }));
        else if (view.status === "failed")
          drafts.update(jobId, (prev) => ({ ...(prev || { text: "" }), jobId, status: "failed", error: view.error }));
      } catch {
        // Live events still deliver it.
      }
    };
    const offState = live.onState((state) => state === "open" && check());
    poll = setInterval(check, 10_000);
    stop = () => {
      unsubscribe();
      offState();
      clearInterval(poll);
      stop = () => {};
    };
    settle(drafts.get(jobId));
  };

  ideaForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(
      draftButton,
      async () => {
        replace(editorSlot);
        /** @type {{idea: string, nsfw: boolean, tags?: string[]}} */
        const body = { idea: idea.value.trim(), nsfw: nsfw.checked };
        const tagList = tags.value
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean);
        if (tagList.length) body.tags = tagList;
        const { job_id: jobId } = await api.post("/personas/generate", body);
        history.replaceState(null, "", `#/create?job=${encodeURIComponent(jobId)}`);
        watch(jobId);
      },
      ideaForm,
    );
  });

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Create a persona from an idea"),
      h("a", { class: "button", href: "#/new" }, "Start from a blank form or import a card"),
    ),
    h("section", { class: "panel" }, ideaForm, status),
    editorSlot,
  );
  if (query.job) watch(query.job);
  return () => stop();
}
