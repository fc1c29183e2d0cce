// @ts-check
// Rooms: several people and several personas in one live conversation (docs/rooms.md).
// The list with a create form, joining by invite link, and a room: its messages, the persona
// reply being streamed (and who asked; the asker or the owner may stop it), who is here and who
// is typing, @-mention completion, and the owner's controls (invite, turn policy, remove, delete).

import { api, currentUser } from "../api.js";
import { $, h } from "../dom.js";
import { live } from "../events.js";
import { renderInto } from "../markup.js";
import { avatar } from "../media.js";
import { go } from "../router.js";
import { ask, busy, emptyState, errorMessage, field, showError, timeAgo, toast } from "../ui.js";

/** @typedef {{id: string, name: string, avatar_media_id?: string | null, avatar_url?: string | null}} RoomPersona */
/** @typedef {{user_id: string, display_name: string, role: "owner" | "member", joined_at: string}} RoomMember */
/** @typedef {{id: string, title: string, owner_id: string, turn_policy: "manual" | "round_robin", personas: RoomPersona[], member_count: number, last_activity_at: string}} Room */
/** @typedef {{job_id: string, message_id: string, persona_id: string, asked_by: string, status: string}} RoomReply */
/** @typedef {{room: Room, members: RoomMember[], role: "owner" | "member", replies: RoomReply[]}} RoomDetail */
/** @typedef {{id: string, seq: number, kind: "member" | "persona", author_id: string, author_name: string, content: string, asked_by?: string | null, job_id?: string | null, status: string, created_at: string}} RoomMessage */
/** @typedef {{job_id: string, message_id: string, persona_id: string, asked_by: string, text: string, el: HTMLElement, ended: boolean}} Streaming */

// The server sends one `room_typing` per member every 3 s at most; a member shown typing is
// forgotten a little after that.
const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 5000;
const ROOM_EVENTS = [
  "room_message",
  "room_message_deleted",
  "room_member_joined",
  "room_member_left",
  "room_updated",
  "room_deleted",
  "room_reply_queued",
  "room_presence",
  "room_typing",
  "channel_dropped",
  "ai_chat_started",
  "ai_chat_chunk",
  "ai_chat_done",
  "ai_chat_cancelled",
  "ai_chat_error",
];

/** @param {string} id */
const rid = (id) => encodeURIComponent(id);

/**
 * `#/rooms`: my rooms, and a form to create one from 1 to 4 personas.
 * @param {HTMLElement} main
 */
export async function list(main) {
  const me = currentUser();
  const rooms = h("ul", { class: "conversation-list room-list", id: "rooms" });
  main.append(
    h("h1", {}, "Rooms"),
    h("p", { class: "muted" }, "Group chats: invite friends, bring up to four personas, talk together live."),
  );
  const form = await createForm(me ? me.id : "");
  main.append(
    h(
      "div",
      { class: "rooms-layout" },
      h("section", { "aria-labelledby": "my-rooms" }, h("h2", { id: "my-rooms" }, "Your rooms"), rooms),
      form,
    ),
  );
  try {
    /** @type {Room[]} */
    const mine = await api.get("/rooms");
    if (!mine.length)
      rooms.replaceWith(emptyState("No rooms yet: create one, or open an invite link someone sent you."));
    for (const room of mine) {
      rooms.append(
        h(
          "li",
          {},
          h(
            "a",
            { href: `#/r/${rid(room.id)}` },
            avatar(room.personas[0] || { name: room.title }),
            h(
              "span",
              {},
              h("strong", { class: "title" }, room.title),
              h(
                "span",
                { class: "preview" },
                `${room.personas.map((p) => p.name).join(", ")} · ${room.member_count} ${room.member_count === 1 ? "member" : "members"}`,
              ),
              h("span", { class: "muted small" }, timeAgo(room.last_activity_at)),
            ),
          ),
        ),
      );
    }
  } catch (err) {
    rooms.replaceWith(h("p", { role: "alert" }, errorMessage(err)));
  }
}

/**
 * The create form: a title, personas to pick (mine first, then popular ones), the turn policy.
 * @param {string} myId
 * @returns {Promise<HTMLElement>}
 */
async function createForm(myId) {
  const title = h("input", {
    name: "title",
    required: true,
    maxlength: 100,
    placeholder: "Friday night at the harbour",
  });
  const policy = h(
    "select",
    { name: "turn_policy" },
    h("option", { value: "manual" }, "Only when named (@Name)"),
    h("option", { value: "round_robin" }, "Take turns when no one is named"),
  );
  const picks = h(
    "fieldset",
    { class: "persona-picks", "data-field": "persona_ids" },
    h("legend", {}, "Personas (1 to 4)"),
  );
  /** @type {Map<string, string>} */
  const seen = new Map();
  const [own, top] = await Promise.all([
    api.get("/personas", { creator_id: myId, limit: 20 }).catch(() => []),
    api.get("/personas", { sort: "top", limit: 12 }).catch(() => []),
  ]);
  for (const p of [...own, ...top]) {
    if (seen.has(p.id)) continue;
    seen.set(p.id, p.name);
    picks.append(
      h(
        "label",
        { class: "pick" },
        h("input", { type: "checkbox", name: "persona_ids", value: p.id, "aria-label": p.name }),
        avatar(p),
        h("span", {}, p.name),
      ),
    );
  }
  if (!seen.size) picks.append(h("p", { class: "muted" }, "Create or like a persona first."));
  picks.append(h("div", { class: "field-error", id: "persona-picks-error", hidden: true }));
  const submit = h("button", { type: "submit", class: "primary" }, "Create room");
  const form = h(
    "form",
    { class: "card room-create", novalidate: true, "aria-label": "Create a room" },
    h("h2", {}, "New room"),
    field("Title", title),
    picks,
    field("Who answers", policy),
    h("div", { class: "row" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = [...form.querySelectorAll('input[name="persona_ids"]:checked')].map(
      (el) => /** @type {HTMLInputElement} */ (el).value,
    );
    const slot = /** @type {HTMLElement} */ ($("#persona-picks-error", form));
    slot.hidden = chosen.length >= 1 && chosen.length <= 4;
    slot.textContent = chosen.length ? "Choose at most 4 personas." : "Choose at least one persona.";
    if (!slot.hidden) return;
    busy(
      submit,
      async () => {
        try {
          /** @type {RoomDetail} */
          const made = await api.post("/rooms", {
            title: /** @type {HTMLInputElement} */ (title).value,
            persona_ids: chosen,
            turn_policy: /** @type {HTMLSelectElement} */ (policy).value,
          });
          go(`/r/${made.room.id}`);
        } catch (err) {
          showError(form, err);
        }
      },
      form,
    );
  });
  return form;
}

/**
 * `#/rooms/join/:code`: join with the invite, then open the room.
 * @param {HTMLElement} main
 * @param {{params: {code: string}}} context
 */
export async function join(main, { params }) {
  const status = h("p", { role: "status" }, "Joining the room…");
  main.append(h("h1", {}, "Join a room"), status);
  try {
    /** @type {RoomDetail} */
    const joined = await api.post("/rooms/join", { code: params.code });
    go(`/r/${joined.room.id}`, {}, { replace: true });
  } catch (err) {
    status.replaceWith(
      h("p", { role: "alert" }, errorMessage(err)),
      h("p", {}, h("a", { href: "#/rooms" }, "Your rooms")),
    );
  }
}

/**
 * `#/r/:id`: one room, live.
 * @param {HTMLElement} main
 * @param {{params: {id: string}}} context
 * @returns {Promise<(() => void) | null>}
 */
export async function room(main, { params }) {
  const me = currentUser();
  const myId = me ? me.id : "";
  const roomId = params.id;
  const channel = `channel:${roomId}`;
  /** @type {RoomDetail} */
  let detail;
  /** @type {RoomMessage[]} */
  let history;
  try {
    [detail, history] = await Promise.all([
      api.get(`/rooms/${rid(roomId)}`),
      api.get(`/rooms/${rid(roomId)}/messages`, { limit: 50 }),
    ]);
  } catch (err) {
    main.append(
      h("h1", {}, "Room"),
      h("p", { role: "alert" }, errorMessage(err)),
      h("p", {}, h("a", { href: "#/rooms" }, "Your rooms")),
    );
    return null;
  }
  /** @type {Set<string>} */
  const present = new Set();
  /** @type {Map<string, {name: string, timer: number}>} */
  const typing = new Map();
  /** @type {Map<string, Streaming>} */
  const streaming = new Map();
  let removed = false;
  let lastTyping = 0;

  const heading = h("h1", {}, detail.room.title);
  const subtitle = h("p", { class: "muted chat-subtitle" });
  const messages = h("ol", { class: "messages", id: "room-messages", "aria-live": "polite", "aria-label": "Messages" });
  const replyStatus = h("div", { class: "room-status", id: "reply-status", role: "status" });
  const typingStatus = h("p", { class: "room-typing muted small", id: "typing-status", "aria-live": "polite" });
  const memberList = h("ul", { class: "room-members-list", id: "room-members" });
  const membersHeading = h("h2", { id: "members-heading" }, "Members");
  const ownerTools = h("div", { class: "room-owner row" });
  const inviteBox = h("div", { class: "invite-box", hidden: true });

  /**
   * The room's persona (name and avatar), or one named `fallback` when it is no longer listed.
   * @param {string} personaId
   * @returns {RoomPersona}
   */
  const personaOf = (personaId, fallback = "A persona") =>
    detail.room.personas.find((p) => p.id === personaId) || { id: personaId, name: fallback };
  /** @param {string} personaId */
  const personaName = (personaId) => personaOf(personaId).name;
  /** @param {string} userId */
  const memberName = (userId) =>
    (detail.members.find((m) => m.user_id === userId) || { display_name: "someone" }).display_name;
  const isOwner = () => detail.role === "owner";

  function showHead() {
    heading.textContent = detail.room.title;
    subtitle.textContent = `${detail.room.personas.map((p) => p.name).join(", ")} · ${detail.room.turn_policy === "round_robin" ? "personas take turns" : "personas answer when named"}`;
  }

  /** @param {RoomMessage} m */
  function messageItem(m) {
    const mine = m.kind === "member" && m.author_id === myId;
    const text = h("div", { class: "text" });
    renderInto(text, m.content, {
      char: m.kind === "persona" ? m.author_name : undefined,
      user: memberName(m.asked_by || ""),
    });
    const tools = h(
      "div",
      { class: "tools" },
      h("span", { class: "status" }, m.status === "cancelled" ? "stopped" : timeAgo(m.created_at)),
    );
    /**
     * @param {string} verb
     * @param {(m: RoomMessage) => unknown} act
     */
    const tool = (verb, act) =>
      h(
        "button",
        {
          type: "button",
          class: "small",
          onclick: () => act(m),
          "aria-label": `${verb} message from ${m.author_name}`,
        },
        verb,
      );
    if (isOwner() || mine) tools.append(tool("Delete", removeMessage));
    if (!mine) tools.append(tool("Report", report));
    return h(
      "li",
      {
        class: `message ${mine ? "user" : m.kind === "persona" ? "assistant persona" : "other"}`,
        dataset: { messageId: m.id },
      },
      mine ? null : avatar(m.kind === "persona" ? personaOf(m.author_id, m.author_name) : { name: m.author_name }),
      h("div", { class: "bubble" }, mine ? null : h("div", { class: "author" }, m.author_name), text, tools),
    );
  }

  /** @param {RoomMessage} m */
  function addMessage(m) {
    const existing = $(`[data-message-id="${CSS.escape(m.id)}"]`, messages);
    const item = messageItem(m);
    if (existing) existing.replaceWith(item);
    else messages.append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  /**
   * A step that cannot be undone: `act` once the user confirms `question`; a failure is a toast.
   * @param {{title: string, body: string, confirm: string}} question
   * @param {() => Promise<unknown>} act
   */
  async function confirmed(question, act) {
    if (await ask({ ...question, danger: true })) await busy(null, act);
  }

  /** @param {RoomMessage} m */
  function removeMessage(m) {
    return confirmed(
      { title: "Delete this message?", body: "Everyone in the room stops seeing it.", confirm: "Delete" },
      () => api.del(`/rooms/${rid(roomId)}/messages/${rid(m.id)}`),
    );
  }

  /** @param {RoomMessage} m */
  async function report(m) {
    const reason = await ask({
      title: "Report this message",
      body: "Tell the moderators what is wrong with it.",
      confirm: "Report",
      input: { label: "Reason", value: "" },
    });
    if (!reason) return;
    try {
      await api.post(`/rooms/${rid(roomId)}/messages/${rid(m.id)}/report`, { reason });
      toast("Thanks: the message was reported.");
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  }

  function showMembers() {
    membersHeading.textContent = `Members (${detail.members.length})`;
    memberList.replaceChildren(
      ...detail.members.map((m) => {
        const here = present.has(m.user_id);
        const controls = [];
        if (isOwner() && m.user_id !== myId)
          controls.push(
            h(
              "button",
              {
                type: "button",
                class: "small danger",
                onclick: () => removeMember(m),
                "aria-label": `Remove ${m.display_name}`,
              },
              "Remove",
            ),
          );
        return h(
          "li",
          { dataset: { userId: m.user_id, present: here ? "yes" : "no" } },
          h("span", {
            class: `presence-dot${here ? " here" : ""}`,
            role: "img",
            "aria-label": here ? "here now" : "away",
          }),
          h(
            "span",
            { class: "grow" },
            m.display_name,
            m.user_id === myId ? " (you)" : "",
            m.role === "owner" ? h("span", { class: "muted small" }, " · owner") : null,
          ),
          ...controls,
        );
      }),
    );
  }

  /** @param {RoomMember} m */
  function removeMember(m) {
    return confirmed(
      {
        title: `Remove ${m.display_name}?`,
        body: "They stop seeing the room at once; their invite links stop working for them.",
        confirm: "Remove",
      },
      () => api.del(`/rooms/${rid(roomId)}/members/${rid(m.user_id)}`),
    );
  }

  function showReplies() {
    const lines = [];
    for (const s of streaming.values()) {
      if (s.ended) continue;
      const canStop = s.asked_by === myId || isOwner();
      lines.push(
        h(
          "p",
          { class: "row" },
          h(
            "span",
            { class: "grow" },
            h("strong", {}, personaName(s.persona_id)),
            ` is replying to ${s.asked_by === myId ? "you" : memberName(s.asked_by)}…`,
          ),
          canStop ? h("button", { type: "button", class: "small", onclick: () => stop(s.job_id) }, "Stop") : null,
        ),
      );
    }
    const waiting = detail.replies.filter((r) => r.status === "queued" && !streaming.has(r.message_id));
    if (waiting.length)
      lines.push(h("p", { class: "muted small" }, `Next: ${waiting.map((r) => personaName(r.persona_id)).join(", ")}`));
    replyStatus.replaceChildren(...lines);
  }

  /** @param {string} jobId */
  async function stop(jobId) {
    try {
      await api.post(`/rooms/${rid(roomId)}/replies/${rid(jobId)}/stop`, {});
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  }

  function showTyping() {
    const names = [...typing.values()].map((t) => t.name);
    typingStatus.textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  }

  async function refresh() {
    try {
      detail = await api.get(`/rooms/${rid(roomId)}`);
    } catch {
      return;
    }
    showHead();
    showMembers();
    showReplies();
    showOwnerTools();
  }

  function showOwnerTools() {
    if (!isOwner()) {
      ownerTools.replaceChildren(h("button", { type: "button", class: "small", onclick: leave }, "Leave room"));
      return;
    }
    const policy = h(
      "select",
      { name: "turn_policy", "aria-label": "Who answers" },
      h("option", { value: "manual" }, "Answer when named"),
      h("option", { value: "round_robin" }, "Take turns"),
    );
    /** @type {HTMLSelectElement} */ (policy).value = detail.room.turn_policy;
    policy.addEventListener("change", async () => {
      try {
        detail = await api.patch(`/rooms/${rid(roomId)}`, {
          turn_policy: /** @type {HTMLSelectElement} */ (policy).value,
        });
        showHead();
      } catch (err) {
        toast(errorMessage(err), "error");
      }
    });
    const inviteButton = h("button", { type: "button", class: "primary small", id: "invite-button" }, "Invite link");
    inviteButton.addEventListener("click", () => busy(inviteButton, makeInvite));
    ownerTools.replaceChildren(
      inviteButton,
      policy,
      h("button", { type: "button", class: "small danger", onclick: deleteRoom }, "Delete room"),
    );
  }

  async function makeInvite() {
    try {
      const invite = await api.post(`/rooms/${rid(roomId)}/invites`, {});
      const link = h("input", { readonly: true, value: invite.url, "aria-label": "Invite link", id: "invite-link" });
      const copy = h("button", { type: "button", class: "small" }, "Copy");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(invite.url);
          copy.textContent = "Copied";
        } catch {
          /** @type {HTMLInputElement} */ (link).select();
          copy.textContent = "Press Ctrl+C";
        }
      });
      inviteBox.replaceChildren(
        h(
          "p",
          { class: "small muted" },
          `Anyone with this link can join until ${new Date(invite.expires_at).toLocaleDateString()}.`,
        ),
        h("div", { class: "row" }, link, copy),
      );
      inviteBox.hidden = false;
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  }

  function deleteRoom() {
    return confirmed(
      { title: "Delete this room?", body: "Its messages are deleted for everyone.", confirm: "Delete" },
      async () => {
        await api.del(`/rooms/${rid(roomId)}`);
        go("/rooms");
      },
    );
  }

  async function leave() {
    if (!(await ask({ title: "Leave this room?", confirm: "Leave" }))) return;
    try {
      await api.del(`/rooms/${rid(roomId)}/members/${rid(myId)}`);
      go("/rooms");
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  }

  function removedFromRoom() {
    if (removed) return;
    removed = true;
    memberList.replaceChildren();
    ownerTools.replaceChildren(h("a", { href: "#/rooms" }, "Your rooms"));
    replyStatus.replaceChildren();
    composer.replaceWith(h("p", { role: "alert", class: "room-removed" }, "You are no longer a member of this room."));
  }

  // Composer with @-mention completion.
  const input = /** @type {HTMLTextAreaElement} */ (
    h("textarea", {
      name: "content",
      rows: 2,
      maxlength: 16384,
      placeholder: "Say something — @Name asks a persona",
      "aria-autocomplete": "list",
      "aria-controls": "mention-list",
    })
  );
  const suggestions = h("ul", {
    class: "mention-list",
    id: "mention-list",
    role: "listbox",
    "aria-label": "Mention",
    hidden: true,
  });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const composer = h(
    "form",
    { class: "composer room-composer", novalidate: true, "aria-label": "Send a message to the room" },
    h("label", { for: "room-input", class: "visually-hidden" }, "Message the room"),
    h("div", { class: "mention-wrap grow" }, input, suggestions),
    send,
    h("div", { class: "field-error", hidden: true }),
  );
  input.id = "room-input";
  let active = 0;

  /** The `@fragment` right before the caret, or null. */
  function fragment() {
    const before = input.value.slice(0, input.selectionStart || 0);
    const m = before.match(/@([\p{L}\p{N}_'-]*)$/u);
    return m ? { start: before.length - m[0].length, text: m[1].toLowerCase() } : null;
  }

  function suggest() {
    const f = fragment();
    const names = [
      ...detail.room.personas.map((p) => p.name),
      ...detail.members.filter((m) => m.user_id !== myId).map((m) => m.display_name),
    ];
    const found = f ? names.filter((n) => n.toLowerCase().startsWith(f.text)).slice(0, 6) : [];
    suggestions.hidden = !found.length;
    active = Math.min(active, Math.max(found.length - 1, 0));
    suggestions.replaceChildren(
      ...found.map((name, i) =>
        h(
          "li",
          {
            role: "option",
            "aria-selected": i === active ? "true" : "false",
            onmousedown: (/** @type {Event} */ e) => {
              // Keep the focus in the textarea: the pick happens before it would blur.
              e.preventDefault();
              pick(name);
            },
          },
          `@${name}`,
        ),
      ),
    );
  }

  /** @param {string} name */
  function pick(name) {
    const f = fragment();
    if (!f) return;
    const end = input.selectionStart || 0;
    input.value = `${input.value.slice(0, f.start)}@${name} ${input.value.slice(end)}`;
    const caret = f.start + name.length + 2;
    input.setSelectionRange(caret, caret);
    suggestions.hidden = true;
    input.focus();
  }

  input.addEventListener("input", () => {
    suggest();
    const now = Date.now();
    if (input.value.trim() && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      api.post(`/rooms/${rid(roomId)}/typing`, {}).catch(() => {});
    }
  });
  input.addEventListener("keydown", (event) => {
    const options = [...suggestions.children];
    if (!suggestions.hidden && options.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
        suggest();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        pick((options[active].textContent || "").slice(1));
        return;
      }
      if (event.key === "Escape") {
        suggestions.hidden = true;
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value;
    if (!content.trim()) return;
    busy(
      send,
      async () => {
        try {
          const turn = await api.post(`/rooms/${rid(roomId)}/messages`, { content });
          input.value = "";
          suggestions.hidden = true;
          addMessage(turn.message);
        } catch (err) {
          showError(composer, err);
        }
      },
      composer,
    );
  });

  main.append(
    h(
      "div",
      { class: "room-layout" },
      h(
        "section",
        { class: "chat room" },
        h("header", { class: "chat-head row" }, h("div", { class: "grow" }, heading, subtitle)),
        inviteBox,
        messages,
        replyStatus,
        typingStatus,
        composer,
      ),
      h(
        "aside",
        { class: "room-aside card", "aria-labelledby": "members-heading" },
        membersHeading,
        memberList,
        ownerTools,
      ),
    ),
  );
  showHead();
  for (const m of [...history].reverse()) addMessage(m);
  showMembers();
  showReplies();
  showOwnerTools();

  /** @param {any} data */
  const mine = (data) => data && data.channel === channel;
  /** @type {Record<string, (data: any) => void>} */
  const handlers = {
    room_message: (data) => addMessage(data.message),
    room_message_deleted: (data) => {
      const el = $(`[data-message-id="${CSS.escape(data.message_id)}"]`, messages);
      if (el) el.remove();
    },
    room_member_joined: () => refresh(),
    room_member_left: (data) => {
      if (data.user_id === myId) removedFromRoom();
      else refresh();
    },
    room_updated: () => refresh(),
    room_deleted: () => {
      toast("The owner deleted this room.");
      go("/rooms");
    },
    room_reply_queued: (data) => {
      detail.replies.push(data.reply);
      showReplies();
    },
    room_presence: (data) => {
      present.clear();
      for (const id of data.user_ids) present.add(id);
      showMembers();
    },
    room_typing: (data) => {
      if (data.user_id === myId) return;
      const was = typing.get(data.user_id);
      if (was) clearTimeout(was.timer);
      const timer = window.setTimeout(() => {
        typing.delete(data.user_id);
        showTyping();
      }, TYPING_SHOWN_MS);
      typing.set(data.user_id, { name: data.display_name, timer });
      showTyping();
    },
    channel_dropped: () => removedFromRoom(),
    ai_chat_started: (data) => {
      const item = h(
        "li",
        { class: "message assistant persona streaming", dataset: { messageId: data.message_id } },
        avatar(personaOf(data.persona_id)),
        h(
          "div",
          { class: "bubble" },
          h("div", { class: "author" }, personaName(data.persona_id)),
          h("div", { class: "text" }),
        ),
      );
      const old = $(`[data-message-id="${CSS.escape(data.message_id)}"]`, messages);
      if (old) old.replaceWith(item);
      else messages.append(item);
      streaming.set(data.message_id, {
        job_id: data.job_id,
        message_id: data.message_id,
        persona_id: data.persona_id,
        asked_by: data.asked_by,
        text: "",
        el: item,
        ended: false,
      });
      detail.replies = detail.replies.filter((r) => r.job_id !== data.job_id);
      showReplies();
    },
    ai_chat_chunk: (data) => {
      const s = streaming.get(data.message_id);
      if (!s || s.ended) return;
      s.text += data.delta;
      const text = $(".text", s.el);
      if (text) renderInto(text, s.text, { streaming: true });
      s.el.scrollIntoView({ block: "nearest" });
    },
    ai_chat_done: (data) => ended(data, "done"),
    ai_chat_cancelled: (data) => ended(data, "cancelled"),
    ai_chat_error: (data) => ended(data, "failed"),
  };

  /**
   * A reply ended: show its whole text (authoritative) as a stored message.
   * @param {any} data
   * @param {string} status
   */
  function ended(data, status) {
    const s = streaming.get(data.message_id);
    if (s) s.ended = true;
    detail.replies = detail.replies.filter((r) => r.job_id !== data.job_id);
    const text = data.text || "";
    const el = $(`[data-message-id="${CSS.escape(data.message_id)}"]`, messages);
    if (text) {
      addMessage({
        id: data.message_id,
        seq: 0,
        kind: "persona",
        author_id: data.persona_id,
        author_name: personaName(data.persona_id),
        content: text,
        asked_by: data.asked_by,
        job_id: data.job_id,
        status,
        created_at: new Date().toISOString(),
      });
    } else if (el) {
      el.remove();
    }
    if (status === "failed")
      toast(`${personaName(data.persona_id)} could not reply: ${data.reason || "the reply failed"}`, "error");
    showReplies();
  }

  const offs = ROOM_EVENTS.map((name) =>
    live.on(name, (data) => {
      const ours =
        name === "room_member_left"
          ? data.room_id === roomId
          : mine(data) || (name === "channel_dropped" && data.channel === channel);
      if (ours && handlers[name]) handlers[name](data);
    }),
  );
  live.watch(channel);

  return () => {
    for (const off of offs) off();
    for (const t of typing.values()) clearTimeout(t.timer);
    live.unwatch(channel);
    // Presence follows streams: reconnecting without the room says we left it.
    live.reconnect();
  };
}
