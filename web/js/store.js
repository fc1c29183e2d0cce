// What live events tell us, kept for the whole page life so a view opened mid-stream (or an
// HTTP answer that arrives after its first events) still sees everything: chat replies being
// written, persona drafts, media jobs. Views subscribe to the key they show.

import { live } from "./events.js";

class Keyed {
  constructor() {
    this.items = new Map();
    this.listeners = new Map();
  }

  get(key) {
    return this.items.get(key);
  }

  update(key, fn) {
    const next = fn(this.items.get(key));
    this.items.set(key, next);
    for (const listener of this.listeners.get(key) || []) listener(next);
    for (const listener of this.listeners.get("*") || []) listener(next, key);
    return next;
  }

  /** `fn(state)` on every change of `key` ("*" for all: `fn(state, key)`). */
  subscribe(key, fn) {
    if (!this.listeners.has(key)) this.listeners.set(key, new Set());
    this.listeners.get(key).add(fn);
    return () => this.listeners.get(key).delete(fn);
  }
}

// --- Chat replies, by message id -----------------------------------------------------------
// The same event arrives once per channel (user:<id> and channel:<conversation>), so chunks are
// kept by index: a duplicate overwrites itself, and the text is the parts joined in order.

export const replies = new Keyed();

function fresh(data) {
  return {
    messageId: data.message_id,
    conversationId: data.conversation_id,
    jobId: data.job_id,
    attempt: 1,
    parts: [],
    status: "pending",
    text: "",
    error: null,
    queued: null,
    provider: null,
  };
}

/** The state for this event's job: a regeneration (new job) of the same message starts over. */
function reply(prev, data) {
  return prev && prev.jobId === data.job_id ? prev : fresh(data);
}

function joined(parts) {
  let text = "";
  for (const part of parts) if (part !== undefined) text += part;
  return text;
}

// A reply being written holds the resume point (see `live.hold`) until it ends.
const holdReply = (data, meta) => live.hold(`reply:${data.message_id}`, meta.id);
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
    // A retried or redelivered job restarts the reply from scratch.
    if (attempt > state.attempt) return { ...fresh(data), attempt, provider: data.provider };
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
live.on("persona_draft_ready", (data) =>
  drafts.update(data.job_id, (prev) => ({
    ...(prev || { text: "" }),
    jobId: data.job_id,
    status: "done",
    draft: data.draft,
  })),
);
live.on("persona_draft_failed", (data) =>
  drafts.update(data.job_id, (prev) => ({
    ...(prev || { text: "" }),
    jobId: data.job_id,
    status: "failed",
    error: data.reason,
  })),
);

// --- Media jobs, by media id -----------------------------------------------------------------

export const mediaJobs = new Keyed();

live.on("media_progress", (data) =>
  mediaJobs.update(data.media_id, (prev) => {
    const state = prev || { mediaId: data.media_id, jobId: data.job_id, status: "processing", percent: 0, stage: "" };
    // Percent never goes backwards (a replayed event may be older than one we have).
    if (state.status !== "processing" || data.percent < state.percent) return state;
    return { ...state, jobId: data.job_id, percent: data.percent, stage: data.stage };
  }),
);
live.on("media_ready", (data) =>
  mediaJobs.update(data.media_id, (prev) => ({
    ...(prev || {}),
    mediaId: data.media_id,
    jobId: data.job_id,
    status: "ready",
    percent: 100,
    stage: "ready",
    ready: data,
  })),
);
live.on("media_failed", (data) =>
  mediaJobs.update(data.media_id, (prev) => ({
    ...(prev || {}),
    mediaId: data.media_id,
    jobId: data.job_id,
    status: "failed",
    error: data.reason,
  })),
);

// --- Failed jobs (any kind), by job id --------------------------------------------------------

export const failedJobs = new Keyed();
live.on("job_failed", (data) => failedJobs.update(data.job_id, () => data));
