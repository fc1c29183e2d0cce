// @ts-check
// What live events tell us, kept for the whole page life so a view opened mid-stream (or an
// HTTP answer that arrives after its first events) still sees everything: chat replies being
// written, persona drafts, media jobs. Views subscribe to the key they show.

import { listen, live } from "./events.js";

/**
 * States by key, and who wants to hear of their changes.
 * @template T
 */
class Keyed {
  constructor() {
    /** @type {Map<string, T>} */
    this.items = new Map();
    /** @type {Map<string, Set<(state: T, key?: string) => void>>} */
    this.listeners = new Map();
  }

  /** @param {string} key */
  get(key) {
    return this.items.get(key);
  }

  /**
   * @param {string} key
   * @param {(prev: T | undefined) => T} fn the next state from the one before (if any)
   */
  update(key, fn) {
    const next = fn(this.items.get(key));
    this.items.set(key, next);
    for (const listener of this.listeners.get(key) || []) listener(next);
    for (const listener of this.listeners.get("*") || []) listener(next, key);
    return next;
  }

  /**
   * `fn(state)` on every change of `key` ("*" for all: `fn(state, key)`).
   * @param {string} key
   * @param {(state: T, key?: string) => void} fn
   */
  subscribe(key, fn) {
    return listen(this.listeners, key, fn);
  }
}

// --- Chat replies, by message id -----------------------------------------------------------
// The same event arrives once per channel (user:<id> and channel:<conversation>), so chunks are
// kept by index: a duplicate overwrites itself, and the text is the parts joined in order.

/**
 * A chat reply being written (or just ended), as its events tell it.
 * @typedef {object} Reply
 * @property {string} messageId
 * @property {string} conversationId
 * @property {string} jobId
 * @property {number} attempt
 * @property {number} retake within an attempt: a reply that claimed to be an AI, being written again
 * @property {(string | undefined)[]} parts the chunks by index (a gap: not arrived yet)
 * @property {string} status "pending", "done", "cancelled" or "failed"
 * @property {string} text
 * @property {string | null} error
 * @property {number | null} queued replies ahead of this one for the model
 * @property {string | null} provider "offline" when no language model wrote it
 * @property {string} [finishReason]
 */

/** @type {Keyed<Reply>} */
export const replies = new Keyed();

/**
 * @param {any} data an `ai_chat_*` event
 * @returns {Reply}
 */
function fresh(data) {
  return {
    messageId: data.message_id,
    conversationId: data.conversation_id,
    jobId: data.job_id,
    attempt: 1,
    retake: 0,
    parts: [],
    status: "pending",
    text: "",
    error: null,
    queued: null,
    provider: null,
  };
}

/**
 * The state for this event's job: a regeneration (new job) of the same message starts over.
 * @param {Reply | undefined} prev
 * @param {any} data
 */
function reply(prev, data) {
  return prev && prev.jobId === data.job_id ? prev : fresh(data);
}

/** @param {(string | undefined)[]} parts */
function joined(parts) {
  let text = "";
  for (const part of parts) if (part !== undefined) text += part;
  return text;
}

// A reply being written holds the resume point (see `live.hold`) until it ends.
/** @type {import("./events.js").Handler} */
const holdReply = (data, meta) => live.hold(`reply:${data.message_id}`, meta.id);
/** @type {import("./events.js").Handler} */
const releaseReply = (data) => live.release(`reply:${data.message_id}`);

live.on("ai_chat_queued", holdReply);
live.on("ai_chat_started", holdReply);
live.on("ai_chat_chunk", holdReply);
for (const name of ["ai_chat_done", "ai_chat_cancelled", "ai_chat_error"]) live.on(name, releaseReply);

// Waiting for the text model: `position` replies must start or end before this one starts.
live.on("ai_chat_queued", (data) =>
  replies.update(data.message_id, (prev) => {
    const state = reply(prev, data);
    return state.status === "pending" && !state.parts.length ? { ...state, queued: data.position } : state;
  }),
);

live.on("ai_chat_started", (data) =>
  replies.update(data.message_id, (prev) => {
    const state = reply(prev, data);
    const attempt = data.attempt || 1;
    const retake = data.retake || 0;
    // A retried or redelivered job, or a retake within an attempt, restarts the reply from scratch.
    if (attempt > state.attempt || (attempt === state.attempt && retake > state.retake)) {
      return { ...fresh(data), attempt, retake, provider: data.provider };
    }
    return { ...state, queued: null, provider: data.provider };
  }),
);

live.on("ai_chat_chunk", (data) =>
  replies.update(data.message_id, (prev) => {
    const state = reply(prev, data);
    if (state.status !== "pending" || state.parts[data.index] !== undefined) return state;
    const parts = state.parts.slice();
    parts[data.index] = data.delta;
    return { ...state, parts, text: joined(parts) };
  }),
);

live.on("ai_chat_done", (data) =>
  replies.update(data.message_id, (prev) => ({
    ...reply(prev, data),
    status: "done",
    text: data.text,
    finishReason: data.finish_reason,
    provider: data.provider,
  })),
);

live.on("ai_chat_cancelled", (data) =>
  replies.update(data.message_id, (prev) => {
    const state = reply(prev, data);
    return { ...state, status: "cancelled", text: data.text || state.text };
  }),
);

live.on("ai_chat_error", (data) =>
  replies.update(data.message_id, (prev) => ({ ...reply(prev, data), status: "failed", error: data.reason })),
);

// --- Persona drafts, by job id ---------------------------------------------------------------

/**
 * A persona draft being written, by job id (`draft`: the persona, once ready).
 * @typedef {{jobId: string, text: string, attempt?: number, status: string, draft?: any, error?: string | null}} Draft
 */

/** @type {Keyed<Draft>} */
export const drafts = new Keyed();

live.on("persona_draft_progress", (data, meta) => live.hold(`draft:${data.job_id}`, meta.id));
for (const name of ["persona_draft_ready", "persona_draft_failed"])
  live.on(name, (data) => live.release(`draft:${data.job_id}`));

// A new `attempt` (a redelivery, or the model asked again) starts the text over.
live.on("persona_draft_progress", (data) =>
  drafts.update(data.job_id, (prev) => {
    const attempt = data.attempt || 1;
    const state = prev || { jobId: data.job_id, text: "", attempt, status: "pending", draft: null, error: null };
    if (state.status !== "pending" || attempt < (state.attempt || 1)) return state;
    if (attempt > (state.attempt || 1)) return { ...state, attempt, text: data.delta };
    return { ...state, attempt, text: state.text + data.delta };
  }),
);
// What each of a draft's last events makes of it.
/** @type {Record<string, (data: any) => Partial<Draft> & {status: string}>} */
const DRAFT_ENDS = {
  persona_draft_ready: (data) => ({ status: "done", draft: data.draft }),
  persona_draft_failed: (data) => ({ status: "failed", error: data.reason }),
};
for (const [name, end] of Object.entries(DRAFT_ENDS))
  live.on(name, (data) =>
    drafts.update(data.job_id, (prev) => ({ ...(prev || { text: "" }), jobId: data.job_id, ...end(data) })),
  );

// --- Media jobs, by media id -----------------------------------------------------------------

/**
 * A media job (generation, upload processing), by media id; `ready` is the `media_ready` event.
 * @typedef {{mediaId: string, jobId: string, status: string, percent?: number, stage?: string, ready?: any, error?: string}} MediaJob
 */

/** @type {Keyed<MediaJob>} */
export const mediaJobs = new Keyed();

live.on("media_progress", (data) =>
  mediaJobs.update(data.media_id, (prev) => {
    const state = prev || { mediaId: data.media_id, jobId: data.job_id, status: "processing", percent: 0, stage: "" };
    // Percent never goes backwards (a replayed event may be older than one we have).
    if (state.status !== "processing" || data.percent < (state.percent ?? 0)) return state;
    return { ...state, jobId: data.job_id, percent: data.percent, stage: data.stage };
  }),
);
// What each of a media job's last events makes of it.
/** @type {Record<string, (data: any) => Partial<MediaJob> & {status: string}>} */
const MEDIA_ENDS = {
  media_ready: (data) => ({ status: "ready", percent: 100, stage: "ready", ready: data }),
  media_failed: (data) => ({ status: "failed", error: data.reason }),
};
for (const [name, end] of Object.entries(MEDIA_ENDS))
  live.on(name, (data) =>
    mediaJobs.update(data.media_id, (prev) => ({ ...prev, mediaId: data.media_id, jobId: data.job_id, ...end(data) })),
  );

// --- Failed jobs (any kind), by job id --------------------------------------------------------

/** @type {Keyed<any>} the `job_failed` event */
export const failedJobs = new Keyed();
live.on("job_failed", (data) => failedJobs.update(data.job_id, () => data));
