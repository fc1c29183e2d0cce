// `#/create`: describe an idea in one line, watch the draft being written
// (`persona_draft_progress`), then edit it, generate its avatar and save it.

import { ApiError, api } from "../api.js";
import { h } from "../dom.js";
import { live } from "../events.js";
import { drafts } from "../store.js";
import { busy, field, replace, showError } from "../ui.js";
import { avatarBox, personaForm, unsavedPersona } from "./editor.js";

export function render(main, { query }) {
  const idea = h("input", { type: "text", name: "idea", minlength: "3", maxlength: "500", required: true, value: query.idea || "", placeholder: "a retired lighthouse keeper who collects storm stories" });
  const tags = h("input", { type: "text", name: "tags", autocomplete: "off" });
  const nsfw = h("input", { type: "checkbox", name: "nsfw" });
  const draftButton = h("button", { type: "submit", class: "primary" }, "Draft it");
  const ideaForm = h(
    "form",
    { novalidate: true, "aria-label": "Describe an idea" },
    field("Your idea, in one line", idea, { hint: "Who they are and what makes them interesting." }),
    h("div", { class: "row" }, h("div", { class: "grow" }, field("Tags (optional)", tags, { hint: "Comma separated." })), h("div", { class: "field" }, h("label", { class: "check" }, nsfw, "Adult content (NSFW)"))),
    draftButton,
  );
  const status = h("p", { class: "muted", role: "status", id: "draft-status" });
  const stream = h("pre", { class: "stream", id: "draft-stream", "aria-live": "off", hidden: true });
  const editorSlot = h("div", { id: "draft-editor" });
  let stop = () => {};
  let poll = null;

  const showDraft = (draft) => {
    const pf = personaForm({ ...draft, visibility: "public" }, { submitLabel: "Save persona" });
    const ensureSaved = unsavedPersona(pf, { note: "Saved, so its avatar can be generated. Keep editing, then save again." });
    replace(editorSlot, h("h2", {}, "Your draft: edit anything"), avatarBox(pf, { ensureSaved }), pf.form);
    pf.form.querySelector("[name=name]").focus();
  };

  const watch = (jobId) => {
    stop();
    stream.hidden = false;
    stream.textContent = "";
    status.textContent = "Writing your persona…";
    const settle = (state) => {
      if (!state) return;
      stream.textContent = state.text || stream.textContent;
      stream.scrollTop = stream.scrollHeight;
      if (state.status === "done") {
        stop();
        status.textContent = "Draft ready. Nothing is saved until you save it.";
        showDraft(state.draft);
      } else if (state.status === "failed") {
        stop();
        status.textContent = "";
        showError(ideaForm, new ApiError(0, "draft_failed", `The draft failed: ${state.error || "no reason given"}`));
      }
    };
    const unsubscribe = drafts.subscribe(jobId, settle);
    // Missed events (a reconnect, a reload): the draft is also kept by the server.
    const check = async () => {
      try {
        const view = await api.get(`/personas/drafts/${encodeURIComponent(jobId)}`);
        if (view.status === "done") drafts.update(jobId, (prev) => ({ ...(prev || { text: "" }), jobId, status: "done", draft: view.draft }));
        else if (view.status === "failed") drafts.update(jobId, (prev) => ({ ...(prev || { text: "" }), jobId, status: "failed", error: view.error }));
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
    busy(draftButton, async () => {
      replace(editorSlot);
      const body = { idea: idea.value.trim(), nsfw: nsfw.checked };
      const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
      if (tagList.length) body.tags = tagList;
      const { job_id: jobId } = await api.post("/personas/generate", body);
      history.replaceState(null, "", `#/create?job=${encodeURIComponent(jobId)}`);
      watch(jobId);
    }, ideaForm);
  });

  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Create a persona from an idea"), h("a", { class: "button", href: "#/new" }, "Start from a blank form or import a card")),
    h("section", { class: "panel" }, ideaForm, status, stream),
    editorSlot,
  );
  if (query.job) watch(query.job);
  return () => stop();
}
