// @ts-check
// A conversation's state and what changes it: its messages, the reply being written (followed
// through the live store as `ai_chat_*` events arrive), and the API call behind each action.
// It draws through ChatView (chat/view.js) and never touches the DOM itself.

import { api } from "../api.js";
import { newChat } from "../community.js";
import { live } from "../events.js";
import { go } from "../router.js";
import { replies } from "../store.js";
import { toast } from "../ui.js";
import { loadUserPersona, userName } from "../whoami.js";
import { ChatView, chatTitle } from "./view.js";

/**
 * @typedef {import("./view.js").ConversationsView} ConversationsView
 * @typedef {import("./view.js").MessageRow} MessageRow
 * @typedef {import("../whoami.js").UserPersona} UserPersona
 */

/**
 * A conversation as the API answers it (the fields the chat reads).
 * @typedef {object} Conversation
 * @property {string} id
 * @property {string | null} [title]
 * @property {string} persona_id
 * @property {string} persona_name
 * @property {string | null} [persona_avatar_url]
 * @property {UserPersona | null} [user_persona] who I play here, when not the account's persona
 * @property {string | null} [pending_job_id] the job writing the latest reply
 * @property {string | null} [last_message]
 * @property {string} [last_activity_at]
 */

/**
 * A message as the API answers it, plus `regenerating` (kept here while a new alternative is written).
 * @typedef {object} Message
 * @property {string} id
 * @property {string} conversation_id
 * @property {number} seq its place in the conversation
 * @property {string} role "user" or "assistant"
 * @property {string} content
 * @property {string[]} swipes the alternatives of a reply
 * @property {number} swipe_index the one shown
 * @property {string} status "pending", "done", "cancelled" or "failed"
 * @property {string | null} [job_id] the job that writes (or wrote) it
 * @property {string | null} [error]
 * @property {boolean} [regenerating]
 */

/**
 * A turn started: the message sent (if any) and the reply's message and job.
 * @typedef {{message_id: string, reply_message_id: string, job_id: string}} Turn
 */

/**
 * How a reply ended, from its live state or, when the server cancelled it on the spot, said here.
 * @typedef {{status: string, text: string, error?: string | null}} Ending
 */

/** @param {string} id */
const cid = (id) => encodeURIComponent(id);

/** The conversations list: a page at a time into its view. */
export class ConversationsController {
  /** @param {ConversationsView} view */
  constructor(view) {
    this.view = view;
    /** @type {string | null} */
    this.cursor = null;
    view.bindMore(() => this.load());
  }

  /** The next page; resolves to how many conversations came. */
  async load() {
    const page = await api.page("/conversations", { limit: 30, cursor: this.cursor });
    this.view.add(page.items, Boolean(page.next));
    this.cursor = page.next;
    return page.items.length;
  }

  /** The first page, or a sentence saying there is none (or what went wrong). */
  start() {
    this.load()
      .then((n) => {
        if (!n) this.view.showEmpty();
      })
      .catch((err) => this.view.showError(err));
  }
}

/** One conversation: its messages and replies, and every action on it. */
export class ChatController {
  /**
   * @param {Conversation} conv
   * @param {ConversationsView} conversations the list beside it (a rename shows there too)
   */
  constructor(conv, conversations) {
    this.conv = conv;
    this.conversations = conversations;
    /** @type {Map<string, Message>} */
    this.messages = new Map();
    /** @type {string | null} the next older page of messages */
    this.cursor = null;
    /** @type {string | null} the job writing the latest reply */
    this.pendingJob = conv.pending_job_id || null;
    /** @type {(() => void)[]} what to stop following when the page closes */
    this.unsubs = [];
    this.view = new ChatView(conv, this);
  }

  /** Who I play and the latest messages, before the page shows. */
  async load() {
    await loadUserPersona().catch(() => null);
    this.view.showSettings(this.conv);
    this.addPage(await api.page(`/conversations/${cid(this.conv.id)}/messages`, { limit: 50 }));
  }

  /**
   * Draw everything, follow the replies still being written and this conversation's channel.
   * @returns {() => void} stops following, when the page closes
   */
  start() {
    this.repaintAll();
    for (const m of this.messages.values()) if (m.status === "pending") this.track(m.id);
    this.view.toBottom();
    // Also follow this conversation's own channel (the gateway checks we are its participant).
    this.unsubs.push(live.watch(`channel:${this.conv.id}`));
    // While the next message is typed, the model may read the chat so far (the server's cache is
    // empty after a restart); best effort, so a refusal changes nothing here.
    if (!this.pendingJob) api.post(`/conversations/${cid(this.conv.id)}/warm-up`, {}).catch(() => null);
    this.view.focusInput();
    return () => {
      for (const off of this.unsubs) off();
    };
  }

  // -- state --------------------------------------------------------------------------------

  ordered() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The names `{{char}}` and `{{user}}` stand for in this chat. */
  names() {
    return { char: this.conv.persona_name, user: userName(this.conv.user_persona) };
  }

  nextSeq() {
    return Math.max(0, ...[...this.messages.values()].map((x) => x.seq)) + 1;
  }

  /**
   * What to show of `m`: a live reply's growing text, else its stored content.
   * @param {Message} m
   * @returns {MessageRow}
   */
  row(m) {
    const state = replies.get(m.id);
    let text = m.content;
    if (m.status === "pending") text = state && state.jobId === m.job_id ? state.text : "";
    const latest = this.ordered().pop();
    const canRegenerate =
      m.role === "assistant" && latest?.id === m.id && m.job_id !== null && m.job_id !== undefined && !this.pendingJob;
    return { message: m, text, names: this.names(), live: state, canRegenerate };
  }

  /** @param {Message} m */
  paint(m) {
    this.view.paint(this.row(m));
  }

  repaintAll() {
    for (const m of this.ordered()) this.paint(m);
    this.view.showPending(Boolean(this.pendingJob));
  }

  /** @param {{items: Message[], next: string | null}} page */
  addPage(page) {
    for (const m of page.items) this.messages.set(m.id, { ...this.messages.get(m.id), ...m });
    this.cursor = page.next;
    this.view.showOlder(Boolean(this.cursor));
  }

  /**
   * @param {Message} m
   * @param {Partial<Message>} changes
   */
  update(m, changes) {
    const updated = { ...m, ...changes };
    this.messages.set(m.id, updated);
    this.paint(updated);
  }

  // -- replies being written ----------------------------------------------------------------

  /**
   * Follow a reply being written: repaint as its live state changes.
   * @param {string} messageId
   */
  track(messageId) {
    const off = replies.subscribe(messageId, (state) => {
      if (state.provider === "offline") this.view.showOfflineNotice();
      const m = this.messages.get(messageId);
      if (m?.status !== "pending" || state.jobId !== m.job_id) return;
      if (state.status === "pending") {
        if (!this.view.stream(messageId, state, this.names())) this.paint(m);
        return;
      }
      off();
      this.finish(m, state);
    });
    this.unsubs.push(off);
    const known = replies.get(messageId);
    const m = this.messages.get(messageId);
    if (known && m && known.jobId === m.job_id && known.status !== "pending") this.finish(m, known);
    else if (m) this.paint(m);
  }

  /**
   * A reply ended (done, stopped, failed): keep its text as a swipe, like the server does.
   * @param {Message} m
   * @param {Ending} state
   */
  finish(m, state) {
    const regenerated = m.regenerating && (m.swipes || []).length > 0;
    const text = state.status === "failed" ? m.content : state.text;
    let swipes = m.swipes || [];
    if (state.status !== "failed") swipes = regenerated ? [...swipes, text] : [text];
    this.messages.set(m.id, {
      ...m,
      status: state.status,
      content: text,
      swipes,
      swipe_index: Math.max(0, swipes.length - 1),
      error: state.error || null,
      regenerating: false,
    });
    if (this.pendingJob === m.job_id) this.pendingJob = null;
    const name = this.conv.persona_name;
    if (state.status === "done") this.view.announce(`${name} replied.`);
    else if (state.status === "cancelled") this.view.announce("Reply stopped.");
    else this.view.announce(`The reply failed: ${state.error || ""}`);
    this.repaintAll();
    if (state.status === "failed") toast(`The reply failed: ${state.error || "unknown reason"}`, "error");
  }

  /**
   * @param {Turn} turn
   * @param {{regenerating: boolean}} options
   */
  startReply(turn, { regenerating }) {
    this.pendingJob = turn.job_id;
    const existing = this.messages.get(turn.reply_message_id);
    if (existing) {
      this.messages.set(existing.id, { ...existing, status: "pending", job_id: turn.job_id, regenerating });
    } else {
      this.messages.set(turn.reply_message_id, {
        id: turn.reply_message_id,
        conversation_id: this.conv.id,
        seq: this.nextSeq(),
        role: "assistant",
        content: "",
        swipes: [],
        swipe_index: 0,
        status: "pending",
        job_id: turn.job_id,
        regenerating: false,
      });
    }
    this.repaintAll();
    this.track(turn.reply_message_id);
  }

  // -- actions (chat/view.js ChatActions) -----------------------------------------------------

  /** @param {string} content */
  async send(content) {
    /** @type {Turn} */
    const turn = await api.post(`/conversations/${cid(this.conv.id)}/messages`, { content });
    this.messages.set(turn.message_id, {
      id: turn.message_id,
      conversation_id: this.conv.id,
      seq: this.nextSeq(),
      role: "user",
      content,
      swipes: [],
      swipe_index: 0,
      status: "done",
      job_id: null,
    });
    this.startReply(turn, { regenerating: false });
  }

  async regenerate() {
    this.startReply(await api.post(`/conversations/${cid(this.conv.id)}/regenerate`, {}), { regenerating: true });
  }

  async stop() {
    const job = this.pendingJob;
    if (!job) return;
    const answer = await api.post(`/conversations/${cid(this.conv.id)}/generations/${cid(job)}/cancel`, {});
    if (answer.stopping) return;
    // No worker had it: the server cancelled it on the spot; no event will follow.
    const m = [...this.messages.values()].find((x) => x.job_id === job);
    if (m && m.status === "pending") this.finish(m, { status: "cancelled", text: replies.get(m.id)?.text || "" });
  }

  async older() {
    this.addPage(await api.page(`/conversations/${cid(this.conv.id)}/messages`, { limit: 50, cursor: this.cursor }));
    this.repaintAll();
  }

  /**
   * @param {Message} m
   * @param {number} index
   */
  async swipe(m, index) {
    this.update(m, await api.patch(this.messageUrl(m), { swipe_index: index }));
  }

  /**
   * @param {Message} m
   * @param {string} content
   */
  async edit(m, content) {
    this.update(m, await api.patch(this.messageUrl(m), { content }));
    this.view.announce("Message edited.");
  }

  /**
   * The reply that answered `m`, which may be deleted with it (not one still being written).
   * @param {Message} m
   */
  replyTo(m) {
    const next = this.ordered().find((x) => x.seq > m.seq);
    return m.role === "user" && next && next.role === "assistant" && next.status !== "pending" ? next : null;
  }

  /**
   * @param {Message} m
   * @param {Message | null} reply deleted with it
   */
  async remove(m, reply) {
    await api.del(`${this.messageUrl(m)}${reply ? "?with_reply=true" : ""}`);
    const gone = reply ? [m, reply] : [m];
    for (const x of gone) {
      this.messages.delete(x.id);
      this.view.removeMessage(x.id);
    }
    this.view.announce(gone.length > 1 ? "Message and reply deleted." : "Message deleted.");
    this.repaintAll();
  }

  /** @param {string} title */
  async rename(title) {
    Object.assign(this.conv, await api.patch(`/conversations/${cid(this.conv.id)}`, { title }));
    this.view.showTitle(this.conv);
    this.conversations.retitle(this.conv.id, chatTitle(this.conv));
    this.view.announce(`Chat renamed to ${this.conv.title}.`);
  }

  /** @param {HTMLButtonElement} button */
  newChat(button) {
    newChat({ id: this.conv.persona_id, name: this.conv.persona_name }, button);
  }

  async deleteChat() {
    await api.del(`/conversations/${cid(this.conv.id)}`);
    toast("Chat deleted.", "success");
    go("/chats");
  }

  /**
   * Who I play in this chat (null: the account's persona).
   * @param {UserPersona | null} value
   */
  async setUserPersona(value) {
    Object.assign(this.conv, await api.patch(`/conversations/${cid(this.conv.id)}`, { user_persona: value }));
    // The greeting may now name the new persona: read the messages again.
    const page = await api.page(`/conversations/${cid(this.conv.id)}/messages`, { limit: 50 });
    for (const m of page.items) {
      const known = this.messages.get(m.id);
      if (known && known.status !== "pending") this.messages.set(m.id, { ...known, ...m });
    }
    this.repaintAll();
    this.view.showSettings(this.conv);
    this.view.openSettings();
    this.view.announce(`In this chat you are ${userName(this.conv.user_persona)}.`);
  }

  /** @param {Message} m */
  messageUrl(m) {
    return `/conversations/${cid(this.conv.id)}/messages/${cid(m.id)}`;
  }
}
