// Chat: the conversations list, and a conversation whose replies grow token by token from
// `ai_chat_chunk` events; stop, regenerate, swipe between alternatives, edit and delete messages;
// rename, delete or start a new chat; who the user plays in this chat.

import { api } from "../api.js";
import { newChat } from "../community.js";
import { $, h } from "../dom.js";
import { live } from "../events.js";
import { markup, renderInto } from "../markup.js";
import { avatar } from "../media.js";
import { go } from "../router.js";
import { replies } from "../store.js";
import { ask, busy, choose, errorMessage, field, timeAgo, toast } from "../ui.js";
import { loadUserPersona, personaFields, userName } from "../whoami.js";

const cid = (id) => encodeURIComponent(id);

/** What a reply being written shows beside it: queued for the model, thinking, or writing. */
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

/** A conversation's name: its title, else the persona's name. */
const chatTitle = (c) => c.title || c.persona_name;

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
        h("span", { class: "muted small" }, timeAgo(c.last_activity_at)),
      ),
    ),
  );
}

function conversationList(currentId = null) {
  const list = h("ul", { class: "conversation-list", id: "conversations" });
  const more = h("button", { type: "button", class: "small", hidden: true }, "More conversations");
  let cursor = null;
  const load = async () => {
    const page = await api.page("/conversations", { limit: 30, cursor });
    list.append(...page.items.map((c) => conversationLink(c, currentId)));
    cursor = page.next;
    more.hidden = !cursor;
    return page.items.length;
  };
  more.addEventListener("click", () => busy(more, load));
  const el = h(
    "nav",
    { class: currentId ? "panel conversations-aside" : "panel", "aria-label": "Conversations" },
    h("h2", {}, "Conversations"),
    list,
    more,
  );
  load()
    .then((n) => {
      if (!n && !list.children.length)
        list.replaceWith(
          h(
            "p",
            { class: "muted" },
            "No conversations yet. ",
            h("a", { href: "#/explore" }, "Find a persona to chat with."),
          ),
        );
    })
    .catch((err) => list.replaceWith(h("p", { class: "form-error", role: "alert" }, errorMessage(err))));
  return el;
}

/** `#/chats` */
export function list(main) {
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Chats")),
    h(
      "div",
      { class: "chat-layout" },
      conversationList(),
      h("div", { class: "panel muted" }, h("p", {}, "Pick a conversation, or start one from a persona's page.")),
    ),
  );
}

/** `#/c/:id` */
export async function conversation(main, { params }) {
  const conv = await api.get(`/conversations/${cid(params.id)}`);
  const persona = { name: conv.persona_name, avatar_url: conv.persona_avatar_url };
  const messages = new Map(); // id → Message (plus local fields)
  const nodes = new Map(); // id → <li>
  const ul = h("ol", {
    class: "messages",
    id: "messages",
    "aria-label": `Conversation with ${conv.persona_name}`,
    "aria-live": "off",
  });
  const olderButton = h("button", { type: "button", class: "small", hidden: true }, "Load earlier messages");
  const status = h("p", { class: "visually-hidden", role: "status", id: "chat-status" });
  const input = h("textarea", {
    name: "content",
    id: "chat-input",
    rows: "2",
    maxlength: "16384",
    placeholder: `Message ${conv.persona_name}`,
  });
  const send = h("button", { type: "submit", class: "primary", id: "send" }, "Send");
  const stop = h("button", { type: "button", class: "danger", id: "stop", hidden: true }, "Stop generating");
  const composer = h(
    "form",
    { class: "composer", novalidate: true, "aria-label": "Send a message" },
    h("label", { for: input.id, class: "visually-hidden" }, `Message ${conv.persona_name}`),
    input,
    send,
    stop,
  );
  composer.append(h("div", { class: "field-error", hidden: true }));
  const notice = offlineNotice();
  let cursor = null;
  let pendingJob = conv.pending_job_id || null; // the job writing the latest reply
  const unsubs = [];

  const nearBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
  const toBottom = () => window.scrollTo({ top: document.body.scrollHeight });

  const ordered = () => [...messages.values()].sort((a, b) => a.seq - b.seq);
  /** The names `{{char}}` and `{{user}}` stand for in this chat. */
  const names = () => ({ char: conv.persona_name, user: userName(conv.user_persona) });
  const latest = () => ordered().pop();

  /** The text shown for a message: a live reply's growing text, else its stored content. */
  const shownText = (m) => {
    if (m.status === "pending") {
      const state = replies.get(m.id);
      return state && state.jobId === m.job_id ? state.text : "";
    }
    return m.content;
  };

  const paint = (m) => {
    const old = nodes.get(m.id);
    const stick = nearBottom();
    const li = renderMessage(m);
    nodes.set(m.id, li);
    if (old) old.replaceWith(li);
    else {
      const after = ordered().filter((x) => x.seq > m.seq && nodes.get(x.id) && nodes.get(x.id).isConnected)[0];
      if (after) ul.insertBefore(li, nodes.get(after.id));
      else ul.append(li);
    }
    if (stick) toBottom();
  };

  const repaintAll = () => {
    for (const m of ordered()) paint(m);
    controls();
  };

  const controls = () => {
    stop.hidden = !pendingJob;
    send.disabled = Boolean(pendingJob);
  };

  function renderMessage(m) {
    const mine = m.role === "user";
    const text = renderInto(h("div", { class: "text" }), shownText(m), {
      ...names(),
      streaming: m.status === "pending",
    });
    const bubble = h("div", { class: "bubble" }, text);
    const li = h(
      "li",
      {
        class: `message ${m.role}${m.status === "pending" ? " streaming" : ""}`,
        dataset: { messageId: m.id, status: m.status, role: m.role },
      },
      mine ? null : avatar(persona),
      bubble,
    );
    const tools = h("div", { class: "tools" });
    if (m.status === "pending") {
      tools.append(h("span", { class: "status" }, pendingLabel(replies.get(m.id), conv.persona_name)));
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
        const pick = (i) => () =>
          busy(i < m.swipe_index ? prev : next, async () => {
            const updated = await api.patch(`/conversations/${cid(conv.id)}/messages/${cid(m.id)}`, { swipe_index: i });
            messages.set(m.id, { ...m, ...updated });
            paint(messages.get(m.id));
          });
        prev.addEventListener("click", pick(m.swipe_index - 1));
        next.addEventListener("click", pick(m.swipe_index + 1));
        tools.append(
          prev,
          h("span", { class: "swipe-count", "aria-hidden": "true" }, `${m.swipe_index + 1}/${swipes.length}`),
          h("span", { class: "visually-hidden" }, `Alternative ${m.swipe_index + 1} of ${swipes.length}`),
          next,
        );
      }
      const isLatest = latest() && latest().id === m.id;
      if (m.role === "assistant" && isLatest && m.job_id !== null && m.job_id !== undefined && !pendingJob) {
        const again = h("button", { type: "button", class: "regenerate" }, "Regenerate");
        again.addEventListener("click", () => regenerate(again));
        tools.append(again);
      }
      const edit = h("button", { type: "button", class: "edit", "aria-label": "Edit this message" }, "Edit");
      edit.addEventListener("click", () => editMessage(m, li));
      const del = h("button", { type: "button", class: "delete", "aria-label": "Delete this message" }, "Delete");
      del.addEventListener("click", () => deleteMessage(m, del));
      tools.append(edit, del);
    }
    bubble.append(tools);
    return li;
  }

  /** Edit in place, the editor as wide as the conversation; Escape (or Cancel) puts it back. */
  const editMessage = (m, li) => {
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
      paint(m);
      $(".tools .edit", nodes.get(m.id))?.focus();
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
      busy(
        save,
        async () => {
          const updated = await api.patch(`/conversations/${cid(conv.id)}/messages/${cid(m.id)}`, {
            content: area.value,
          });
          messages.set(m.id, { ...m, ...updated });
          paint(messages.get(m.id));
          status.textContent = "Message edited.";
        },
        form,
      );
    });
    const bubble = $(".bubble", li);
    bubble.replaceChildren(form);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  };

  /** Delete one message; a message of mine that was answered may take its reply with it. */
  const deleteMessage = async (m, button) => {
    const next = ordered().find((x) => x.seq > m.seq);
    const reply = m.role === "user" && next && next.role === "assistant" && next.status !== "pending" ? next : null;
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
    const gone = choice === "both" ? [m, reply] : [m];
    await busy(button, async () => {
      const query = choice === "both" ? "?with_reply=true" : "";
      await api.del(`/conversations/${cid(conv.id)}/messages/${cid(m.id)}${query}`);
      for (const x of gone) {
        messages.delete(x.id);
        nodes.get(x.id)?.remove();
        nodes.delete(x.id);
      }
      status.textContent = gone.length > 1 ? "Message and reply deleted." : "Message deleted.";
      repaintAll();
    });
  };

  /** Follow a reply being written: repaint as its live state changes. */
  const track = (messageId) => {
    const off = replies.subscribe(messageId, (state) => {
      if (state.provider === "offline" && !notice.isConnected) ul.before(notice);
      const m = messages.get(messageId);
      if (m?.status !== "pending" || state.jobId !== m.job_id) return;
      if (state.status === "pending") {
        const li = nodes.get(messageId);
        const text = li && $(".text", li);
        if (text) {
          const stick = nearBottom();
          // Only the text changes (the list is not a live region, its end is announced once).
          renderInto(text, state.text, { ...names(), streaming: true });
          const label = $(".tools .status", li);
          if (label) label.textContent = pendingLabel(state, conv.persona_name);
          if (stick) toBottom();
        } else paint(m);
        return;
      }
      off();
      finish(m, state);
    });
    unsubs.push(off);
    const known = replies.get(messageId);
    const m = messages.get(messageId);
    if (known && m && known.jobId === m.job_id && known.status !== "pending") finish(m, known);
    else if (m) paint(m);
  };

  /** A reply ended (done, stopped, failed): keep its text as a swipe, like the server does. */
  const finish = (m, state) => {
    const regenerated = m.regenerating && (m.swipes || []).length > 0;
    const text = state.status === "failed" ? m.content : state.text;
    let swipes = m.swipes || [];
    if (state.status !== "failed") swipes = regenerated ? [...swipes, text] : [text];
    const updated = {
      ...m,
      status: state.status,
      content: text,
      swipes,
      swipe_index: Math.max(0, swipes.length - 1),
      error: state.error || null,
      regenerating: false,
    };
    messages.set(m.id, updated);
    if (pendingJob === m.job_id) pendingJob = null;
    status.textContent =
      state.status === "done"
        ? `${conv.persona_name} replied.`
        : state.status === "cancelled"
          ? "Reply stopped."
          : `The reply failed: ${state.error || ""}`;
    repaintAll();
    if (state.status === "failed") toast(`The reply failed: ${state.error || "unknown reason"}`, "error");
  };

  const startReply = (turn, { regenerating }) => {
    pendingJob = turn.job_id;
    const existing = messages.get(turn.reply_message_id);
    if (existing) {
      messages.set(existing.id, { ...existing, status: "pending", job_id: turn.job_id, regenerating });
    } else {
      const seq = Math.max(0, ...[...messages.values()].map((x) => x.seq)) + 1;
      messages.set(turn.reply_message_id, {
        id: turn.reply_message_id,
        conversation_id: conv.id,
        seq,
        role: "assistant",
        content: "",
        swipes: [],
        swipe_index: 0,
        status: "pending",
        job_id: turn.job_id,
        regenerating: false,
      });
    }
    repaintAll();
    track(turn.reply_message_id);
  };

  const regenerate = (button) =>
    busy(button, async () => {
      const turn = await api.post(`/conversations/${cid(conv.id)}/regenerate`, {});
      startReply(turn, { regenerating: true });
    });

  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const content = input.value;
    if (!content.trim()) {
      input.focus();
      return;
    }
    busy(
      send,
      async () => {
        const turn = await api.post(`/conversations/${cid(conv.id)}/messages`, { content });
        input.value = "";
        const seq = Math.max(0, ...[...messages.values()].map((x) => x.seq)) + 1;
        messages.set(turn.message_id, {
          id: turn.message_id,
          conversation_id: conv.id,
          seq,
          role: "user",
          content,
          swipes: [],
          swipe_index: 0,
          status: "done",
          job_id: null,
        });
        startReply(turn, { regenerating: false });
        input.focus();
      },
      composer,
    ).then(controls);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (!send.disabled) composer.requestSubmit(send);
    }
  });

  stop.addEventListener("click", () =>
    busy(stop, async () => {
      const job = pendingJob;
      if (!job) return;
      const answer = await api.post(`/conversations/${cid(conv.id)}/generations/${cid(job)}/cancel`, {});
      if (!answer.stopping) {
        // No worker had it: the server cancelled it on the spot; no event will follow.
        const m = [...messages.values()].find((x) => x.job_id === job);
        if (m && m.status === "pending") finish(m, { status: "cancelled", text: replies.get(m.id)?.text || "" });
      }
    }),
  );

  const addPage = (page) => {
    for (const m of page.items) messages.set(m.id, { ...messages.get(m.id), ...m });
    cursor = page.next;
    olderButton.hidden = !cursor;
  };
  olderButton.addEventListener("click", () =>
    busy(olderButton, async () => {
      const first = ul.firstElementChild;
      const top = first ? first.getBoundingClientRect().top : 0;
      addPage(await api.page(`/conversations/${cid(conv.id)}/messages`, { limit: 50, cursor }));
      repaintAll();
      if (first) window.scrollBy(0, first.getBoundingClientRect().top - top);
    }),
  );

  /** The heading and the chat's own actions: rename, new chat, delete, the persona, who I play. */
  const title = h("h1", { id: "chat-title" }, chatTitle(conv));
  const subtitle = h("p", { class: "muted small chat-subtitle", hidden: !conv.title }, `with ${conv.persona_name}`);
  const settings = h("details", { class: "panel chat-settings", id: "chat-settings" });
  const chatHead = () => {
    const rename = h("button", { type: "button", class: "small", id: "rename-chat" }, "Rename");
    rename.addEventListener("click", async () => {
      const name = await ask({
        title: "Rename this chat",
        input: { label: "Title", maxlength: 100, value: conv.title || "" },
        confirm: "Rename",
      });
      if (!name) return;
      await busy(rename, async () => {
        Object.assign(conv, await api.patch(`/conversations/${cid(conv.id)}`, { title: name }));
        title.textContent = chatTitle(conv);
        subtitle.hidden = !conv.title;
        const link = document.querySelector(`#conversations li[data-conversation-id="${conv.id}"] .title`);
        if (link) link.textContent = chatTitle(conv);
        status.textContent = `Chat renamed to ${conv.title}.`;
      });
    });
    const fresh = h("button", { type: "button", class: "small", id: "new-chat" }, "New chat");
    fresh.addEventListener("click", () => newChat({ id: conv.persona_id, name: conv.persona_name }, fresh));
    const remove = h("button", { type: "button", class: "small danger", id: "delete-chat" }, "Delete chat");
    remove.addEventListener("click", async () => {
      const sure = await ask({
        title: `Delete “${chatTitle(conv)}”?`,
        body: "Every message of this chat is deleted. This cannot be undone.",
        confirm: "Delete chat",
        danger: true,
      });
      if (!sure) return;
      await busy(remove, async () => {
        await api.del(`/conversations/${cid(conv.id)}`);
        toast("Chat deleted.", "success");
        go("/chats");
      });
    });
    return h(
      "div",
      { class: "page-head chat-head" },
      h("div", { class: "row" }, avatar(persona), h("div", {}, title, subtitle)),
      h(
        "div",
        { class: "row chat-actions" },
        rename,
        fresh,
        remove,
        h("a", { href: `#/p/${cid(conv.persona_id)}`, class: "button small" }, "Persona"),
      ),
    );
  };

  /** Who I play in this chat: its own user persona, or the account's. */
  const drawSettings = () => {
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
    const apply = async (value) => {
      Object.assign(conv, await api.patch(`/conversations/${cid(conv.id)}`, { user_persona: value }));
      // The greeting may now name the new persona: read the messages again.
      const page = await api.page(`/conversations/${cid(conv.id)}/messages`, { limit: 50 });
      for (const m of page.items)
        if (messages.has(m.id) && messages.get(m.id).status !== "pending")
          messages.set(m.id, { ...messages.get(m.id), ...m });
      repaintAll();
      drawSettings();
      settings.open = true;
      status.textContent = `In this chat you are ${userName(conv.user_persona)}.`;
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = fields.read();
      busy(save, () => apply(value.name ? value : null), form);
    });
    reset.addEventListener("click", () => busy(reset, () => apply(null)));
    settings.replaceChildren(h("summary", {}, `You in this chat: ${userName(conv.user_persona)}`), form);
  };
  await loadUserPersona().catch(() => null);
  drawSettings();

  addPage(await api.page(`/conversations/${cid(conv.id)}/messages`, { limit: 50 }));
  main.append(
    h(
      "div",
      { class: "chat-layout" },
      conversationList(conv.id),
      h(
        "section",
        { class: "chat", "aria-labelledby": "chat-title" },
        chatHead(),
        settings,
        olderButton,
        ul,
        status,
        composer,
      ),
    ),
  );
  repaintAll();
  for (const m of messages.values()) if (m.status === "pending") track(m.id);
  toBottom();
  // Also follow this conversation's own channel (the gateway checks we are its participant).
  unsubs.push(live.watch(`channel:${conv.id}`));
  input.focus();
  return () => {
    for (const off of unsubs) off();
  };
}
