// @ts-check
// Live events over Server-Sent Events.
//
// EventSource cannot send an Authorization header, so each connection uses a single-use ticket
// (`POST /events/tickets`). Its built-in reconnect would reuse the spent ticket, so on any error
// we close it ourselves and reconnect with a fresh ticket, passing the last seen event id as
// `last_event_id` (the query twin of the `Last-Event-ID` header): the gateway replays what we
// missed from the EVENTS stream, and text being streamed continues without a gap.
// When the session is revoked (signed out elsewhere) the gateway's last frame is
// `session_revoked`: we stop for good and tell `onRevoked` listeners, never reconnecting.
//
// Public channels (`public:community`: new public personas, like counts) need no account: a
// visitor who watches one gets a stream without a ticket, which becomes a member's stream (with
// a ticket and the user channel) when they sign in.

import { api, currentUser, signedIn } from "./api.js";

const EVENT_NAMES = [
  "ai_chat_queued",
  "ai_chat_started",
  "ai_chat_chunk",
  "ai_chat_done",
  "ai_chat_error",
  "ai_chat_cancelled",
  "persona_draft_progress",
  "persona_draft_ready",
  "persona_draft_failed",
  "media_progress",
  "media_ready",
  "media_failed",
  "notification",
  "job_failed",
  "persona_published",
  "persona_stats",
];
// Not stored, so sent without `id:`; EventSource still reports the previous event's id for them,
// which must not mark them as already seen (docs/rooms.md).
const EPHEMERAL = new Set(["room_presence", "room_typing", "channel_dropped"]);
const MAX_BACKOFF = 15_000;
// The last event id survives a reload of the tab (sessionStorage), so a reply being streamed
// while the page reloads is replayed from where it was instead of starting blank.
const LAST_ID_KEY = "persona.events.last_id";
const HOLD_MAX_MS = 10 * 60 * 1000;

/**
 * An event handler: `data` is the event's JSON as the gateway sends it, `meta.id` its stored id.
 * @typedef {(data: any, meta: {id: number | null}) => void} Handler
 */

/**
 * Adds `fn` to the listeners `byKey` keeps for `key`; returns the function that removes it.
 * @template F
 * @param {Map<string, Set<F>>} byKey
 * @param {string} key
 * @param {F} fn
 */
export function listen(byKey, key, fn) {
  const listeners = byKey.get(key) ?? new Set();
  byKey.set(key, listeners);
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** @param {string} channel */
const isPublic = (channel) => channel.startsWith("public:");

function lastIdKey() {
  const user = currentUser();
  return user ? `${LAST_ID_KEY}.${user.id}` : null;
}

class LiveEvents {
  constructor() {
    /** @type {EventSource | null} */
    this.source = null;
    /** @type {number | null} */
    this.lastId = null;
    /** @type {Map<string, Set<Handler>>} */
    this.handlers = new Map();
    /** @type {Set<string>} */
    this.channels = new Set();
    this.state = "closed";
    /** @type {Set<(state: string) => void>} */
    this.stateListeners = new Set();
    this.running = false;
    this.backoff = 500;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    this.generation = 0;
    this.connectedOnce = false;
    /** @type {Set<number>} */
    this.seen = new Set();
    this.failures = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.saveTimer = null;
    /** @type {Map<string, {id: number, at: number}>} */
    this.holds = new Map();
    /** @type {Set<() => void>} */
    this.revokedListeners = new Set();
    // A visitor's stream: public channels only, no ticket, nothing saved across reloads.
    this.anonymous = false;
  }

  /**
   * `fn()` when the gateway says this session was revoked; the stream has stopped by then.
   * @param {() => void} fn
   */
  onRevoked(fn) {
    this.revokedListeners.add(fn);
    return () => this.revokedListeners.delete(fn);
  }

  /**
   * Keep the saved resume point at or before event `id` while `key` (e.g. a reply being
   * written) is unfinished, so a reload replays that whole stream, not only its tail.
   * @param {string} key
   * @param {number | null} id
   */
  hold(key, id) {
    if (id !== null && !this.holds.has(key)) {
      this.holds.set(key, { id, at: Date.now() });
      this.persist();
    }
  }

  /** @param {string} key */
  release(key) {
    if (this.holds.delete(key)) this.saveLastId();
  }

  persist() {
    if (this.anonymous) return;
    const key = lastIdKey();
    const point = this.resumePoint();
    if (key && point !== null) sessionStorage.setItem(key, String(point));
  }

  resumePoint() {
    let point = this.lastId;
    for (const [key, { id, at }] of this.holds) {
      // A stream that never ended (its job died) must not pin replays forever.
      if (Date.now() - at > HOLD_MAX_MS) this.holds.delete(key);
      else point = point === null ? id - 1 : Math.min(point, id - 1);
    }
    return point;
  }

  /**
   * `fn(data, meta)` for each event named `name`; returns an unsubscribe function.
   * @param {string} name
   * @param {Handler} fn
   */
  on(name, fn) {
    return listen(this.handlers, name, fn);
  }

  /**
   * `fn(state)` now and on every change: "connecting", "open", "reconnecting" or "closed".
   * @param {(state: string) => void} fn
   */
  onState(fn) {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  /** @param {string} state */
  setState(state) {
    this.state = state;
    for (const fn of this.stateListeners) fn(state);
  }

  start() {
    if (this.running && !(this.anonymous && signedIn())) return;
    // A visitor's public stream becomes this member's stream, resumed from their own saved point.
    this.lastId = null;
    this.running = true;
    const key = lastIdKey();
    const saved = key ? sessionStorage.getItem(key) : null;
    if (saved !== null && /^\d+$/.test(saved)) this.lastId = Number(saved);
    this.connect();
  }

  saveLastId() {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.persist();
    }, 300);
  }

  stop() {
    this.running = false;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    if (this.source) this.source.close();
    this.source = null;
    this.lastId = null;
    this.holds.clear();
    this.connectedOnce = false;
    this.anonymous = false;
    this.channels.clear();
    this.setState("closed");
  }

  /**
   * Also listen on `channel` (e.g. `channel:<conversation id>`); reconnects only when it changes.
   * @param {string} channel
   * @returns {() => void} stops listening
   */
  watch(channel) {
    if (this.channels.has(channel)) return () => this.unwatch(channel);
    this.channels.add(channel);
    if (this.running) this.reconnect();
    else if (isPublic(channel) && !signedIn()) {
      this.running = true;
      this.connect();
    }
    return () => this.unwatch(channel);
  }

  /** @param {string} channel */
  unwatch(channel) {
    // Keep listening until the next reconnect: dropping a channel is not worth a reconnect.
    this.channels.delete(channel);
    // A visitor's stream has no other reason to stay open.
    if (this.anonymous && !this.channels.size) this.stop();
  }

  /** Drop the connection now and resume from the last event id (also used after a network drop). */
  reconnect() {
    if (!this.running) return;
    clearTimeout(this.retryTimer);
    this.backoff = 500;
    this.connect();
  }

  async connect() {
    const generation = ++this.generation;
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    this.anonymous = !signedIn();
    const publicOnly = [...this.channels].filter(isPublic);
    if (this.anonymous && !publicOnly.length) {
      this.setState("closed");
      return;
    }
    this.setState(this.connectedOnce ? "reconnecting" : "connecting");
    const params = new URLSearchParams();
    if (!this.anonymous) {
      let ticket;
      try {
        ticket = await api.post("/events/tickets", {});
      } catch {
        if (generation === this.generation) this.retryLater();
        return;
      }
      if (generation !== this.generation || !this.running) return;
      params.set("ticket", ticket.ticket);
    }
    const channels = this.anonymous ? publicOnly : [...this.channels];
    if (channels.length) params.set("channels", channels.join(","));
    if (this.lastId !== null) params.set("last_event_id", String(this.lastId));
    const source = new EventSource(`/events?${params}`);
    this.source = source;
    let opened = false;
    source.onopen = () => {
      if (generation !== this.generation) return;
      opened = true;
      this.backoff = 500;
      this.failures = 0;
      this.connectedOnce = true;
      this.setState("open");
    };
    source.onerror = () => {
      if (generation !== this.generation) return;
      // Close before the browser retries with the spent ticket; come back with a new one.
      source.close();
      this.source = null;
      if (!opened) this.failures += 1;
      // A channel the server refuses (403 before the stream opens) must not lock us out of our
      // own user channel, which carries everything addressed to us anyway.
      if (this.failures >= 3 && this.channels.size) {
        console.warn("live events: dropping extra channels after repeated failures", [...this.channels]);
        this.channels.clear();
      }
      this.retryLater();
    };
    source.addEventListener("session_revoked", () => {
      if (generation !== this.generation) return;
      this.stop();
      for (const fn of [...this.revokedListeners]) fn();
    });
    /** @param {Event} event */
    const dispatch = (event) => this.dispatch(/** @type {MessageEvent<string>} */ (event), generation);
    for (const name of new Set([...EVENT_NAMES, ...this.handlers.keys()])) source.addEventListener(name, dispatch);
  }

  retryLater() {
    if (!this.running) return;
    this.setState("reconnecting");
    clearTimeout(this.retryTimer);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * @param {MessageEvent<string>} event
   * @param {number} generation the connection it came on (a stale one's events are dropped)
   */
  dispatch(event, generation) {
    if (generation !== this.generation) return;
    const id = event.lastEventId && !EPHEMERAL.has(event.type) ? Number(event.lastEventId) : null;
    if (id !== null) {
      // Never handle one stored event twice (a replay overlapping what arrived live).
      if (this.seen.has(id)) return;
      this.seen.add(id);
      if (this.seen.size > 2000) this.seen = new Set([...this.seen].slice(-1000));
      this.lastId = this.lastId === null ? id : Math.max(this.lastId, id);
      this.saveLastId();
    }
    /** @type {any} */
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    const handlers = this.handlers.get(event.type);
    if (!handlers) return;
    for (const fn of [...handlers]) {
      try {
        fn(data, { id });
      } catch (err) {
        console.error("event handler failed", event.type, err);
      }
    }
  }
}

export const live = new LiveEvents();

// After the laptop wakes or the network returns, do not wait for the backoff timer.
window.addEventListener("online", () => live.reconnect());
// The throttled save may not have run yet when the page goes away.
window.addEventListener("pagehide", () => live.running && live.persist());
