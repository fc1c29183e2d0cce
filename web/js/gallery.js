// @ts-check
// A persona's media panel: generate an image or video (real progress), upload files (bytes sent,
// then processing), a gallery of thumbnails with video playback, and "use as avatar".

import { api } from "./api.js";
import { h, required, uid } from "./dom.js";
import { follow, forgetMedia, generate, remember, uploadFile, urlFor } from "./media.js";
import { busy, errorMessage, field, formatBytes, onDrop, progressBar, replace, toast } from "./ui.js";

const ACCEPT = "image/jpeg,image/png,image/webp,image/gif,video/mp4,video/webm,video/quicktime";

/**
 * A media item as the API answers it (the gallery reads the fields it shows).
 * @typedef {{id: string, status?: string, kind?: string, error?: string, job_id?: string, prompt?: string, [field: string]: any}} Item
 * @typedef {{media_id: string, job_id?: string | null}} Accepted a job the API accepted
 * @typedef {ReturnType<typeof progressBar>} Bar
 */

/**
 * The server checks the image is mine and, for a shared persona, makes it readable by everyone.
 * @param {{id: string}} persona
 * @param {string} mediaId
 */
export function setAvatar(persona, mediaId) {
  return api.patch(`/personas/${encodeURIComponent(persona.id)}`, { avatar_media_id: mediaId });
}

/** @param {string} stage */
function stageText(stage) {
  return stage ? stage.replace(/_/g, " ") : "queued";
}

/**
 * `mediaPanel(persona, {onAvatar(updatedPersona)})` → element. Only the owner gets one (the list
 * endpoint returns the caller's own media).
 * @param {import("./community.js").Persona} persona
 * @param {{onAvatar?: (persona: import("./community.js").Persona) => void, title?: string}} [options]
 */
export function mediaPanel(persona, { onAvatar = () => {}, title = "Images and videos" } = {}) {
  const gallery = h("ul", { class: "gallery", "aria-label": `Gallery of ${persona.name}`, id: "gallery" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const viewer = h("div", { class: "viewer", hidden: true, "aria-live": "polite" });
  const status = h("p", { class: "muted small", role: "status" });
  /** @type {string | null} */
  let cursor = null;

  /**
   * @param {Item} item
   * @returns {HTMLElement}
   */
  const tile = (item) => {
    const isAvatar = persona.avatar_media_id === item.id;
    const li = h("li", { dataset: { mediaId: item.id, status: item.status, kind: item.kind } });
    if (item.status === "failed") {
      li.append(h("div", { class: "pending" }, `Failed: ${item.error || "could not process"}`));
      return li;
    }
    if (item.status !== "ready") {
      // Still being processed (perhaps started on another page): follow it to the end.
      const bar = progressBar("Processing");
      bar.set(0, "waiting");
      li.append(h("div", { class: "pending" }, bar.el));
      queueMicrotask(() =>
        track({ media_id: item.id, job_id: item.job_id }, li, bar, item.kind === "video" ? "Video" : "Image", {
          quiet: true,
        }),
      );
      return li;
    }
    const thumb = urlFor(item, "thumbnail");
    const label =
      item.kind === "video"
        ? `Play video${item.prompt ? `: ${item.prompt}` : ""}`
        : `View image${item.prompt ? `: ${item.prompt}` : ""}`;
    const open = h(
      "button",
      { type: "button", class: "thumb-button", "aria-label": label },
      h("img", {
        class: "thumb",
        src: thumb,
        alt: item.prompt || (item.kind === "video" ? "Video thumbnail" : "Uploaded image"),
        loading: "lazy",
      }),
    );
    open.addEventListener("click", () => show(item));
    const tools = h(
      "div",
      { class: "meta" },
      h(
        "span",
        { class: "muted" },
        item.kind === "video" ? `Video${item.duration ? ` ${Math.round(item.duration)} s` : ""}` : "Image",
      ),
    );
    if (item.kind === "image" && !isAvatar) {
      const use = h("button", { type: "button", class: "small" }, "Use as avatar");
      use.addEventListener("click", () =>
        busy(use, async () => {
          const updated = await setAvatar(persona, item.id);
          persona.avatar_media_id = item.id;
          toast("Avatar updated.", "success");
          onAvatar(updated);
          refresh();
        }),
      );
      tools.append(use);
    }
    const del = h("button", { type: "button", class: "small danger", "aria-label": "Delete this item" }, "Delete");
    del.addEventListener("click", () =>
      busy(del, async () => {
        await api.del(`/media/${encodeURIComponent(item.id)}`);
        forgetMedia(item.id);
        li.remove();
        toast("Deleted.");
      }),
    );
    tools.append(del);
    li.append(open, tools);
    if (isAvatar) li.append(h("span", { class: "tag is-avatar" }, "Avatar"));
    return li;
  };

  /** @param {Item} item */
  const show = (item) => {
    viewer.hidden = false;
    const close = h("button", { type: "button", class: "small" }, "Close");
    close.addEventListener("click", () => {
      viewer.hidden = true;
      replace(viewer);
    });
    const media =
      item.kind === "video"
        ? h("video", {
            controls: true,
            playsinline: true,
            preload: "metadata",
            poster: item.urls.poster || item.urls.thumbnail || null,
            src: item.urls.optimized || item.urls.original,
            "aria-label": item.prompt || "Video",
          })
        : h("img", { src: urlFor(item, "optimized"), alt: item.prompt || "Image" });
    replace(
      viewer,
      h(
        "div",
        { class: "row" },
        h("strong", {}, item.label || (item.source === "generation" ? "Generated" : "Uploaded")),
        close,
      ),
      media,
    );
    close.focus();
  };

  const refresh = async () => {
    try {
      const page = await api.page("/media", { persona_id: persona.id, limit: 24 });
      cursor = page.next;
      replace(
        gallery,
        ...page.items.map((item) => {
          remember(item);
          return tile(item);
        }),
      );
      more.hidden = !cursor;
      status.textContent = page.items.length ? "" : "No images or videos yet.";
    } catch (err) {
      status.textContent = errorMessage(err);
    }
  };
  more.addEventListener("click", () =>
    busy(more, async () => {
      const page = await api.page("/media", { persona_id: persona.id, limit: 24, cursor });
      cursor = page.next;
      gallery.append(
        ...page.items.map((item) => {
          remember(item);
          return tile(item);
        }),
      );
      more.hidden = !cursor;
    }),
  );

  /**
   * A tile showing a job's progress; becomes the real tile when it is ready.
   * @param {Accepted} accepted
   * @param {Bar[]} bars
   */
  const pendingTile = (accepted, bars) => {
    const li = h(
      "li",
      { dataset: { mediaId: accepted.media_id, status: "processing" } },
      h(
        "div",
        { class: "pending" },
        bars.map((b) => b.el),
      ),
    );
    gallery.prepend(li);
    status.textContent = "";
    return li;
  };

  /**
   * @param {Accepted} accepted
   * @param {HTMLElement} li its tile
   * @param {Bar} bar
   * @param {string} label what the toast names
   * @param {{quiet?: boolean}} [options] `quiet`: no toast
   */
  const track = async (accepted, li, bar, label, { quiet = false } = {}) => {
    try {
      const item = await follow(accepted.media_id, accepted.job_id, ({ percent, stage }) =>
        bar.set(percent, `${percent}% · ${stageText(stage)}`),
      );
      bar.set(100, "done");
      if (li.isConnected) li.replaceWith(tile(item));
      if (!quiet) toast(`${label} ready.`, "success");
      return item;
    } catch (err) {
      if (li.isConnected) li.replaceWith(tile({ id: accepted.media_id, status: "failed", error: errorMessage(err) }));
      if (!quiet) toast(`${label} failed: ${errorMessage(err)}`, "error");
      return null;
    }
  };

  // --- Generate -----------------------------------------------------------------------------
  const prompt = h("input", {
    type: "text",
    name: "prompt",
    maxlength: "1000",
    value: `Portrait of ${persona.name}${persona.tagline ? `, ${persona.tagline}` : ""}`,
  });
  const kind = h(
    "select",
    { name: "kind" },
    h("option", { value: "image" }, "Image"),
    h("option", { value: "video" }, "Video (from this persona's images)"),
  );
  const genButton = h("button", { type: "submit", class: "primary" }, "Generate");
  const genForm = h(
    "form",
    { novalidate: true, "aria-label": "Generate an image or video" },
    h("div", { class: "row" }, h("div", { class: "grow" }, field("Prompt", prompt)), field("Kind", kind)),
    genButton,
  );
  genForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(
      genButton,
      async () => {
        const accepted = await generate(
          persona.id,
          kind.value,
          prompt.value.trim(),
          persona.visibility === "private" ? "private" : "public",
        );
        const bar = progressBar(kind.value === "video" ? "Generating video" : "Generating image");
        bar.set(0, "queued");
        const li = pendingTile(accepted, [bar]);
        track(accepted, li, bar, kind.value === "video" ? "Video" : "Image");
      },
      genForm,
    );
  });

  // --- Upload -------------------------------------------------------------------------------
  const fileInput = h("input", { type: "file", name: "file", accept: ACCEPT, multiple: true, id: uid("upload") });
  const uploadForm = h(
    "form",
    { novalidate: true, "aria-label": "Upload images or videos" },
    h(
      "div",
      { class: "dropzone", id: uid("drop") },
      h(
        "label",
        { for: fileInput.id },
        "Upload images or videos",
        h("span", { class: "hint" }, "JPEG, PNG, WebP, GIF, MP4, WebM or MOV; drop files here or choose them."),
      ),
      fileInput,
    ),
    h("div", { class: "field-error", hidden: true }),
  );
  /** @param {File} file */
  const startUpload = (file) => {
    const sent = progressBar(`Uploading ${file.name}`);
    const processing = progressBar("Processing");
    sent.set(0, `0 / ${formatBytes(file.size)}`);
    processing.set(0, "waiting for upload");
    const li = h("li", { dataset: { status: "uploading" } }, h("div", { class: "pending" }, sent.el, processing.el));
    gallery.prepend(li);
    status.textContent = "";
    const handle = uploadFile(file, {
      personaId: persona.id,
      onBytes: (loaded, total) =>
        sent.set(total ? (loaded / total) * 100 : null, `${formatBytes(loaded)} / ${formatBytes(total || file.size)}`),
    });
    handle.promise.then(
      (accepted) => {
        sent.set(100, `${formatBytes(file.size)} sent`);
        li.dataset.mediaId = accepted.media_id;
        li.dataset.status = "processing";
        processing.set(0, "queued");
        track(accepted, li, processing, file.name);
      },
      (err) => {
        li.replaceWith(
          h(
            "li",
            { dataset: { status: "failed" } },
            h("div", { class: "pending" }, `${file.name}: ${errorMessage(err)}`),
          ),
        );
        toast(`${file.name}: ${errorMessage(err)}`, "error");
      },
    );
  };
  fileInput.addEventListener("change", () => {
    for (const file of fileInput.files ?? []) startUpload(file);
    fileInput.value = "";
  });
  const zone = required(".dropzone", uploadForm);
  onDrop(zone, (files) => {
    for (const file of files) startUpload(file);
  });

  const el = h(
    "section",
    { class: "panel media-panel", "aria-labelledby": "media-title" },
    h("h2", { id: "media-title" }, title),
    h("div", { class: "grid-2" }, genForm, uploadForm),
    status,
    gallery,
    more,
    viewer,
  );
  refresh();
  return el;
}
