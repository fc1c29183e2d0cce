// @ts-check
// The chat's DOM: the conversations list, a conversation's messages (a reply's text growing in
// place), the composer, the heading with the chat's actions and the "who I play" form. It draws
// what the controller hands it and turns clicks and key presses into the controller's actions;
// it keeps no conversation state of its own (chat/controller.js does).

import { $, h } from "../dom.js";
import { markup, renderInto } from "../markup.js";
import { avatar } from "../media.js";
import { ask, busy, choose, errorMessage, field, timeAgo } from "../ui.js";
import { personaFields, userName } from "../whoami.js";

/**
 * @typedef {import("./controller.js").Conversation} Conversation
 * @typedef {import("./controller.js").Message} Message
 * @typedef {import("../store.js").Reply} Reply
 * @typedef {import("../whoami.js").UserPersona} UserPersona
 * @typedef {{char: string, user: string}} Names the names `{{char}}` and `{{user}}` stand for
 */

/**
 * What the view shows of one message.
 * @typedef {object} MessageRow
 * @property {Message} message
 * @property {string} text the text shown: a reply's growing text while it is written
 * @property {Names} names
 * @property {Reply | undefined} live the reply's live state, if events told of it
 * @property {boolean} canRegenerate the conversation's latest reply, and nothing being written
 */

/**
 * What the view asks the controller to do. Each returns when done; a failure is shown by the view
 * (a toast, or the form's error) with the button given back.
 * @typedef {object} ChatActions
 * @property {(content: string) => Promise<void>} send
 * @property {() => Promise<void>} stop
 * @property {() => Promise<void>} older
 * @property {() => Promise<void>} regenerate
 * @property {(m: Message, index: number) => Promise<void>} swipe
 * @property {(m: Message, content: string) => Promise<void>} edit
 * @property {(m: Message) => MessageRow} row what to show of `m` now
 * @property {(m: Message) => Message | null} replyTo the reply deleting `m` may take with it
 * @property {(m: Message, reply: Message | null) => Promise<void>} remove
 * @property {(title: string) => Promise<void>} rename
 * @property {(button: HTMLButtonElement) => void} newChat
 * @property {() => Promise<void>} deleteChat
 * @property {(value: UserPersona | null) => Promise<void>} setUserPersona
 */

/** @param {string} id */
const cid = (id) => encodeURIComponent(id);

/**
 * A conversation's name: its title, else the persona's name.
 * @param {{title?: string | null, persona_name: string}} c
 */
export const chatTitle = (c) => c.title || c.persona_name;

/**
 * What a reply being written shows beside it: queued for the model, thinking, or writing.
 * @param {Reply | undefined} state
 * @param {string} personaName
 */
function pendingLabel(state, personaName) {
  if (state?.text) return "Writing…";
  if (state?.queued) return `Waiting for the model (${state.queued} ahead)`;
  return `${personaName} is thinking…`;
}

/** Said once per chat when replies come from the offline provider (no language model). */
function offlineNotice() {
  return h(
    "p",
    { class: "dev-hint", role: "note", id: "offline-notice" },
    "No language model is connected: replies here are placeholders written without AI. ",
    "To connect one, run ",
    h("code", {}, "make dev"),
    " without ",
    h("code", {}, "TEXT_PROVIDER=offline"),
    " (it starts a local model), or set ",
    h("code", {}, "LLM_BASE_URL"),
    " to any OpenAI-compatible server.",
  );
}

/**
 * One conversation in the list: persona, title, the last message, when.
 * @param {Conversation} c
 * @param {string | null} currentId
 */
function conversationLink(c, currentId) {
  return h(
    "li",
    { dataset: { conversationId: c.id } },
    h(
      "a",
      { href: `#/c/${cid(c.id)}`, "aria-current": c.id === currentId ? "page" : null },
      avatar({ name: c.persona_name, avatar_url: c.persona_avatar_url }),
      h(
        "span",
        {},
        h("strong", { class: "title" }, chatTitle(c)),
        c.title ? h("span", { class: "muted small" }, ` · ${c.persona_name}`) : null,
        h(
          "span",
          { class: "preview" },
          c.last_message
            ? markup(c.last_message, { char: c.persona_name, user: userName(c.user_persona) })
            : "No messages yet",
        ),
        h("span", { class: "muted small" }, timeAgo(c.last_activity_at ?? "")),
      ),
    ),
  );
}

const nearBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
const toBottom = () => window.scrollTo({ top: document.body.scrollHeight });

/** The conversations list (`#/chats`, and beside an open conversation), a page at a time. */
export class ConversationsView {
  /** @param {string | null} currentId the conversation open beside the list, if any */
  constructor(currentId) {
    this.currentId = currentId;
    this.list = h("ul", { class: "conversation-list", id: "conversations" });
    this.more = h("button", { type: "button", class: "small", hidden: true }, "More conversations");
    this.el = h(
      "nav",
      { class: currentId ? "panel conversations-aside" : "panel", "aria-label": "Conversations" },
      h("h2", {}, "Conversations"),
      this.list,
      this.more,
    );
  }

  /** @param {() => Promise<unknown>} load the next page */
  bindMore(load) {
    this.more.addEventListener("click", () => busy(this.more, load));
  }

  /**
   * @param {Conversation[]} items
   * @param {boolean} hasMore
   */
  add(items, hasMore) {
    this.list.append(...items.map((c) => conversationLink(c, this.currentId)));
    this.more.hidden = !hasMore;
  }

  showEmpty() {
    if (this.list.children.length) return;
    this.list.replaceWith(
      h(
        "p",
        { class: "muted" },
        "No conversations yet. ",
        h("a", { href: "#/explore" }, "Find a persona to chat with."),
      ),
    );
  }

  /** @param {unknown} err */
  showError(err) {
    this.list.replaceWith(h("p", { class: "form-error", role: "alert" }, errorMessage(err)));
  }

  /**
   * @param {string} id
   * @param {string} title
   */
  retitle(id, title) {
    const link = $(`li[data-conversation-id="${id}"] .title`, this.list);
    if (link) link.textContent = title;
  }
}

/** One conversation: heading and actions, who I play, the messages, the composer. */
export class ChatView {
  /**
   * @param {Conversation} conv
   * @param {ChatActions} actions
   */
  constructor(conv, actions) {
    this.actions = actions;
    this.personaName = conv.persona_name;
    this.persona = { name: conv.persona_name, avatar_url: conv.persona_avatar_url };
    /** @type {string | null | undefined} the title as last shown (the rename dialog starts from it) */
    this.title = conv.title;
    /** @type {Map<string, HTMLElement>} message id → its <li> */
    this.nodes = new Map();
    /** @type {Map<string, number>} message id → its place in the conversation */
    this.seqs = new Map();
    this.pending = false;
    this.messages = h("ol", {
      class: "messages",
      id: "messages",
      "aria-label": `Conversation with ${conv.persona_name}`,
      "aria-live": "off",
    });
    this.older = h("button", { type: "button", class: "small", hidden: true }, "Load earlier messages");
    this.status = h("p", { class: "visually-hidden", role: "status", id: "chat-status" });
    this.input = h("textarea", {
      name: "content",
      id: "chat-input",
      rows: "2",
      maxlength: "16384",
      placeholder: `Message ${conv.persona_name}`,
    });
    this.send = h("button", { type: "submit", class: "primary", id: "send" }, "Send");
    this.stop = h("button", { type: "button", class: "danger", id: "stop", hidden: true }, "Stop generating");
    this.composer = h(
      "form",
      { class: "composer", novalidate: true, "aria-label": "Send a message" },
      h("label", { for: this.input.id, class: "visually-hidden" }, `Message ${conv.persona_name}`),
      this.input,
      this.send,
      this.stop,
    );
    this.composer.append(h("div", { class: "field-error", hidden: true }));
    this.notice = offlineNotice();
    this.heading = h("h1", { id: "chat-title" }, chatTitle(conv));
    this.subtitle = h("p", { class: "muted small chat-subtitle", hidden: !conv.title }, `with ${conv.persona_name}`);
    this.settings = h("details", { class: "panel chat-settings", id: "chat-settings" });
    this.head = this.chatHead(conv);
    this.bindComposer();
  }

  /**
   * The heading and the chat's own actions: rename, new chat, delete, the persona.
   * @param {Conversation} conv
   */
  chatHead(conv) {
    const rename = h("button", { type: "button", class: "small", id: "rename-chat" }, "Rename");
    rename.addEventListener("click", async () => {
      const name = await ask({
        title: "Rename this chat",
        input: { label: "Title", maxlength: 100, value: this.title || "" },
        confirm: "Rename",
      });
      if (!name) return;
      await busy(rename, () => this.actions.rename(name));
    });
    const fresh = h("button", { type: "button", class: "small", id: "new-chat" }, "New chat");
    fresh.addEventListener("click", () => this.actions.newChat(fresh));
    const remove = h("button", { type: "button", class: "small danger", id: "delete-chat" }, "Delete chat");
    remove.addEventListener("click", async () => {
      const sure = await ask({
        title: `Delete “${chatTitle({ title: this.title, persona_name: this.personaName })}”?`,
        body: "Every message of this chat is deleted. This cannot be undone.",
        confirm: "Delete chat",
        danger: true,
      });
      if (!sure) return;
      await busy(remove, () => this.actions.deleteChat());
    });
    return h(
      "div",
      { class: "page-head chat-head" },
      h("div", { class: "row" }, avatar(this.persona), h("div", {}, this.heading, this.subtitle)),
      h(
        "div",
        { class: "row chat-actions" },
        rename,
        fresh,
        remove,
        h("a", { href: `#/p/${cid(conv.persona_id)}`, class: "button small" }, "Persona"),
      ),
    );
  }

  /** Send (Enter, or the button), stop, and load earlier messages. */
  bindComposer() {
    this.composer.addEventListener("submit", (e) => {
      e.preventDefault();
      const content = this.input.value;
      if (!content.trim()) {
        this.input.focus();
        return;
      }
      busy(
        this.send,
        async () => {
          await this.actions.send(content);
          this.input.value = "";
          this.input.focus();
        },
        this.composer,
      ).then(() => this.showPending(this.pending));
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (!this.send.disabled) this.composer.requestSubmit(this.send);
      }
    });
    this.stop.addEventListener("click", () => busy(this.stop, () => this.actions.stop()));
    // Earlier messages go above: the message on screen stays where it was.
    this.older.addEventListener("click", () =>
      busy(this.older, async () => {
        const first = this.messages.firstElementChild;
        const top = first ? first.getBoundingClientRect().top : 0;
        await this.actions.older();
        if (first) window.scrollBy(0, first.getBoundingClientRect().top - top);
      }),
    );
  }

  /**
   * Put the page together in `main`, the conversations list beside the chat.
   * @param {HTMLElement} main
   * @param {HTMLElement} conversations
   */
  mount(main, conversations) {
    main.append(
      h(
        "div",
        { class: "chat-layout" },
        conversations,
        h(
          "section",
          { class: "chat", "aria-labelledby": "chat-title" },
          this.head,
          this.settings,
          this.older,
          this.messages,
          this.status,
          this.composer,
        ),
      ),
    );
  }

  /** @param {MessageRow} row */
  renderMessage(row) {
    const m = row.message;
    const mine = m.role === "user";
    const text = renderInto(h("div", { class: "text" }), row.text, { ...row.names, streaming: m.status === "pending" });
    const bubble = h("div", { class: "bubble" }, text);
    const li = h(
      "li",
      {
        class: `message ${m.role}${m.status === "pending" ? " streaming" : ""}`,
        dataset: { messageId: m.id, status: m.status, role: m.role },
      },
      mine ? null : avatar(this.persona),
      bubble,
    );
    const tools = h("div", { class: "tools" });
    if (m.status === "pending") {
      tools.append(h("span", { class: "status" }, pendingLabel(row.live, this.personaName)));
    } else {
      if (m.status === "cancelled") tools.append(h("span", { class: "status" }, "Stopped"));
      if (m.status === "failed")
        tools.append(
          h("span", { class: "status", role: "alert" }, `Failed: ${m.error || "the reply could not be written"}`),
        );
      const swipes = m.swipes || [];
      if (m.role === "assistant" && swipes.length > 1) {
        const prev = h(
          "button",
          { type: "button", "aria-label": "Previous alternative", disabled: m.swipe_index <= 0 },
          "‹",
        );
        const next = h(
          "button",
          { type: "button", "aria-label": "Next alternative", disabled: m.swipe_index >= swipes.length - 1 },
          "›",
        );
        /** @param {number} i */
        const pick = (i) => () => busy(i < m.swipe_index ? prev : next, () => this.actions.swipe(m, i));
        prev.addEventListener("click", pick(m.swipe_index - 1));
        next.addEventListener("click", pick(m.swipe_index + 1));
        tools.append(
          prev,
          h("span", { class: "swipe-count", "aria-hidden": "true" }, `${m.swipe_index + 1}/${swipes.length}`),
          h("span", { class: "visually-hidden" }, `Alternative ${m.swipe_index + 1} of ${swipes.length}`),
          next,
        );
      }
      if (row.canRegenerate) {
        const again = h("button", { type: "button", class: "regenerate" }, "Regenerate");
        again.addEventListener("click", () => busy(again, () => this.actions.regenerate()));
        tools.append(again);
      }
      const edit = h("button", { type: "button", class: "edit", "aria-label": "Edit this message" }, "Edit");
      edit.addEventListener("click", () => this.editMessage(m, li));
      const del = h("button", { type: "button", class: "delete", "aria-label": "Delete this message" }, "Delete");
      del.addEventListener("click", () => this.deleteMessage(m, del));
      tools.append(edit, del);
    }
    bubble.append(tools);
    return li;
  }

  /**
   * Draw a message, in its place among the others (new, or again where it was).
   * @param {MessageRow} row
   */
  paint(row) {
    const m = row.message;
    const old = this.nodes.get(m.id);
    const stick = nearBottom();
    const li = this.renderMessage(row);
    this.nodes.set(m.id, li);
    this.seqs.set(m.id, m.seq);
    if (old) old.replaceWith(li);
    else {
      let after = null;
      let afterSeq = Number.POSITIVE_INFINITY;
      for (const [id, node] of this.nodes) {
        const seq = this.seqs.get(id) ?? Number.POSITIVE_INFINITY;
        if (seq > m.seq && seq < afterSeq && node.isConnected) {
          after = node;
          afterSeq = seq;
        }
      }
      if (after) this.messages.insertBefore(li, after);
      else this.messages.append(li);
    }
    if (stick) toBottom();
  }

  /**
   * A reply's text as it grows: only the text and its label change (the list is not a live
   * region, its end is announced once). False when the message is not drawn yet.
   * @param {string} id
   * @param {Reply} state
   * @param {Names} names
   */
  stream(id, state, names) {
    const li = this.nodes.get(id);
    const text = li && $(".text", li);
    if (!li || !text) return false;
    const stick = nearBottom();
    renderInto(text, state.text, { ...names, streaming: true });
    const label = $(".tools .status", li);
    if (label) label.textContent = pendingLabel(state, this.personaName);
    if (stick) toBottom();
    return true;
  }

  /** @param {string} id */
  removeMessage(id) {
    this.nodes.get(id)?.remove();
    this.nodes.delete(id);
    this.seqs.delete(id);
  }

  /**
   * Edit in place, the editor as wide as the conversation; Escape (or Cancel) puts it back.
   * @param {Message} m
   * @param {HTMLElement} li
   */
  editMessage(m, li) {
    const rows = Math.min(16, Math.max(3, m.content.split("\n").length + Math.ceil(m.content.length / 90)));
    const area = h("textarea", {
      name: "content",
      "aria-label": "Edit message",
      value: m.content,
      maxlength: "16384",
      rows: String(rows),
    });
    const save = h("button", { type: "submit", class: "primary small" }, "Save");
    const cancel = h("button", { type: "button", class: "small" }, "Cancel");
    const form = h(
      "form",
      { class: "edit-form", novalidate: true },
      h("div", { class: "field" }, area, h("div", { class: "field-error", hidden: true })),
      h("div", { class: "row" }, save, cancel, h("span", { class: "muted small" }, "Escape cancels")),
    );
    const back = () => {
      this.paint(this.actions.row(m));
      $(".tools .edit", this.nodes.get(m.id))?.focus();
    };
    cancel.addEventListener("click", back);
    form.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        back();
      }
    });
    li.classList.add("editing");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(save, () => this.actions.edit(m, area.value), form);
    });
    $(".bubble", li)?.replaceChildren(form);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  /**
   * Delete one message; a message of mine that was answered may take its reply with it.
   * @param {Message} m
   * @param {HTMLButtonElement} button
   */
  async deleteMessage(m, button) {
    const reply = this.actions.replyTo(m);
    const body = "It is removed from the conversation and from what the persona remembers.";
    const choice = reply
      ? await choose({
          title: "Delete this message?",
          body: `${body} The reply that answered it can go too.`,
          choices: [
            { value: "both", label: "Delete with the reply", danger: true },
            { value: "one", label: "Delete only my message" },
          ],
        })
      : (await ask({ title: "Delete this message?", body, confirm: "Delete", danger: true })) && "one";
    if (!choice) return;
    await busy(button, () => this.actions.remove(m, choice === "both" ? reply : null));
  }

  /**
   * Who I play in this chat: its own user persona, or the account's.
   * @param {Conversation} conv
   */
  showSettings(conv) {
    const fields = personaFields(conv.user_persona, "chat-persona-");
    const save = h("button", { type: "submit", class: "primary small" }, "Use in this chat");
    const reset = h(
      "button",
      { type: "button", class: "small", hidden: !conv.user_persona },
      "Use my account's persona",
    );
    const form = h(
      "form",
      { novalidate: true, "aria-label": "Who you are in this chat" },
      field("Your name here", fields.name, { hint: `What ${conv.persona_name} calls you in this chat only.` }),
      field("About you here", fields.description),
      h("div", { class: "row" }, save, reset),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = fields.read();
      busy(save, () => this.actions.setUserPersona(value.name ? value : null), form);
    });
    reset.addEventListener("click", () => busy(reset, () => this.actions.setUserPersona(null)));
    this.settings.replaceChildren(h("summary", {}, `You in this chat: ${userName(conv.user_persona)}`), form);
  }

  openSettings() {
    this.settings.open = true;
  }

  /** @param {Conversation} conv */
  showTitle(conv) {
    this.title = conv.title;
    this.heading.textContent = chatTitle(conv);
    this.subtitle.hidden = !conv.title;
  }

  /**
   * While a reply is written, Stop takes Send's place (on a phone the message box keeps its width).
   * @param {boolean} pending
   */
  showPending(pending) {
    this.pending = pending;
    this.stop.hidden = !pending;
    this.send.hidden = pending;
    this.send.disabled = pending;
  }

  /** @param {boolean} hasOlder */
  showOlder(hasOlder) {
    this.older.hidden = !hasOlder;
  }

  showOfflineNotice() {
    if (!this.notice.isConnected) this.messages.before(this.notice);
  }

  /**
   * Tell screen readers (the status region) what just happened.
   * @param {string} text
   */
  announce(text) {
    this.status.textContent = text;
  }

  toBottom() {
    toBottom();
  }

  focusInput() {
    this.input.focus();
  }
}
