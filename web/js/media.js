// @ts-check
// Media: looking items up (URLs come complete from the API; we never build storage paths),
// avatars, uploads with byte progress, generations, and following a job to the end.

import { ApiError, api, currentUser, upload } from "./api.js";
import { h } from "./dom.js";
import { mediaJobs } from "./store.js";
import { initials } from "./ui.js";

// Signed URLs expire (an hour by default): refetch an item after a while rather than show a
// dead link.
const FRESH_MS = 20 * 60 * 1000;
/** @type {Map<string, {at: number, promise: Promise<any>}>} */
const cache = new Map();

/**
 * A media item (`GET /media/{id}`), kept a while; `fresh` asks again.
 * @param {string} mediaId
 * @param {{fresh?: boolean}} [options]
 * @returns {Promise<any>}
 */
export function getMedia(mediaId, { fresh = false } = {}) {
  const hit = cache.get(mediaId);
  if (hit && !fresh && Date.now() - hit.at < FRESH_MS) return hit.promise;
  const promise = api.get(`/media/${encodeURIComponent(mediaId)}`);
  cache.set(mediaId, { at: Date.now(), promise });
  promise.catch(() => cache.delete(mediaId));
  return promise;
}

/** @param {{id: string}} item a media item the API answered */
export function remember(item) {
  cache.set(item.id, { at: Date.now(), promise: Promise.resolve(item) });
}

/** @param {string} mediaId */
export function forgetMedia(mediaId) {
  cache.delete(mediaId);
}

/**
 * The best URL of a ready item for a slot: thumbnail for small, optimized for large.
 * @param {any} item a media item (its `urls`)
 * @param {"thumbnail" | "optimized"} [size]
 * @returns {string | null}
 */
export function urlFor(item, size = "thumbnail") {
  const urls = item?.urls || {};
  if (size === "thumbnail") return urls.thumbnail || urls.poster || urls.optimized || urls.original || null;
  return urls.optimized || urls.original || urls.thumbnail || null;
}

// The large avatar's box (`.avatar.large`, 8rem): the thumbnail variant (at most 256 px wide)
// is sharp on it up to a 2x screen; the optimized one (at most 1600 px) is for denser screens.
const LARGE_SIZES = "8rem";

/**
 * A persona's avatar, from the URLs the API resolved for this viewer: `avatar_url` (the thumbnail)
 * and `avatar_urls` (thumbnail and optimized) for the large one; a conversation has
 * `persona_avatar_url`. None (no avatar, still processing, gone): the initials. `waitForOwn`: on a
 * page about one of my own personas whose avatar is still being processed, the picture replaces
 * the initials when ready. `first`: above the fold and likely the page's largest picture, so it is
 * asked for at once and before the others, rather than lazily.
 */
/**
 * @param {any} persona a persona or a conversation (the fields above)
 * @param {{large?: boolean, alt?: string, waitForOwn?: boolean, first?: boolean}} [options]
 * @returns {HTMLElement}
 */
export function avatar(persona, { large = false, alt = "", waitForOwn = false, first = false } = {}) {
  const cls = large ? "avatar large" : "avatar";
  const small = persona.avatar_url || persona.persona_avatar_url || null;
  const variants = large ? persona.avatar_urls : null;
  const loading = first ? { loading: "eager", fetchpriority: "high" } : { loading: "lazy" };
  if (variants)
    return h("img", {
      class: cls,
      ...loading,
      srcset: `${variants.thumbnail} 256w, ${variants.optimized} 1600w`,
      sizes: LARGE_SIZES,
      src: variants.optimized,
      alt,
    });
  if (small) return h("img", { class: cls, ...loading, src: small, alt });
  const placeholder = h(
    "span",
    { class: cls, "aria-hidden": alt ? null : "true", role: alt ? "img" : null, "aria-label": alt || null },
    initials(persona.name || persona.persona_name),
  );
  const me = currentUser();
  const mediaId = persona.avatar_media_id;
  if (waitForOwn && mediaId && me && me.id === persona.owner_id) {
    getMedia(mediaId, { fresh: true })
      .then((item) => (item.status === "processing" ? follow(mediaId, item.job_id) : item))
      .then((item) => {
        const url = item.status === "ready" ? urlFor(item, large ? "optimized" : "thumbnail") : null;
        if (url && placeholder.isConnected)
          placeholder.replaceWith(h("img", { class: cls, src: url, alt, loading: "lazy" }));
      })
      .catch(() => {});
  }
  return placeholder;
}

/**
 * POST /media/uploads with byte progress; resolves `{job_id, media_id}`.
 * @param {File} file
 * @param {{personaId?: string | null, visibility?: string | null, onBytes?: (sent: number, total: number) => void}} [options]
 */
export function uploadFile(file, { personaId = null, visibility = null, onBytes } = {}) {
  const form = new FormData();
  // Fields before the file: the service reads the multipart body as a stream.
  if (personaId) form.append("persona_id", personaId);
  if (visibility) form.append("visibility", visibility);
  form.append("file", file, file.name);
  return upload("/media/uploads", form, onBytes);
}

/**
 * Start generating an image or a video for a persona; resolves `{job_id, media_id}`.
 * @param {string} personaId
 * @param {string} kind "image" or "video"
 * @param {string} prompt
 * @param {string} [visibility]
 */
export function generate(personaId, kind, prompt, visibility = "private") {
  return api.post("/media/generations", { persona_id: personaId, kind, prompt, visibility });
}

/**
 * Follow a media job: `onProgress({percent, stage})` from `media_progress` events; resolves with
 * the ready item, rejects with the reason when it fails. Events that arrived before this call
 * (the job can start before the HTTP answer reaches us) are in the store already; a one-off
 * `GET /media/jobs/{id}` covers events missed while disconnected.
 * @param {string} mediaId
 * @param {string | null | undefined} jobId
 * @param {(progress: {percent: number, stage: string}) => void} [onProgress]
 * @returns {Promise<any>} the ready item
 */
export function follow(mediaId, jobId, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    let settled = false;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    let poll;
    let unsubscribe = () => {};
    /** @param {{status: string, percent?: number, stage?: string, error?: string}} state */
    const finish = async (state) => {
      if (settled) return;
      if (state.status === "ready") {
        settled = true;
        unsubscribe();
        clearInterval(poll);
        forgetMedia(mediaId);
        try {
          // media_svc announces `media_ready` after storing the item: this read sees it ready.
          const item = await getMedia(mediaId, { fresh: true });
          resolve(item);
        } catch (err) {
          reject(err);
        }
      } else if (state.status === "failed") {
        settled = true;
        unsubscribe();
        clearInterval(poll);
        reject(new ApiError(422, "media_failed", state.error || "Processing failed."));
      } else {
        onProgress({ percent: state.percent || 0, stage: state.stage || "" });
      }
    };
    unsubscribe = mediaJobs.subscribe(mediaId, finish);
    const known = mediaJobs.get(mediaId);
    if (known) finish(known);
    const check = async () => {
      if (settled || !jobId) return;
      try {
        const job = await api.get(`/media/jobs/${encodeURIComponent(jobId)}`);
        if (settled) return;
        if (job.state === "done") finish({ status: "ready" });
        else if (job.state === "failed") finish({ status: "failed", error: job.error });
        else if (job.percent > (mediaJobs.get(mediaId)?.percent || 0)) {
          mediaJobs.update(mediaId, (prev) => ({
            ...prev,
            mediaId,
            jobId,
            status: "processing",
            percent: job.percent,
            stage: job.stage || "",
          }));
        }
      } catch {
        // The live events still drive progress; this was only a catch-up.
      }
    };
    check();
    // A slow safety net for events lost while the live connection was down for long.
    if (!settled) poll = setInterval(check, 15_000);
  });
}
