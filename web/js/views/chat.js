// @ts-check
// Chat pages: `#/chats` (the conversations) and `#/c/:id` (a conversation whose replies grow
// token by token; stop, regenerate, swipe, edit and delete messages; rename, delete or start a new
// chat; who the user plays in it). State and API calls: chat/controller.js; the DOM: chat/view.js.

import { api } from "../api.js";
import { ChatController, ConversationsController } from "../chat/controller.js";
import { ConversationsView } from "../chat/view.js";
import { h } from "../dom.js";

/**
 * `#/chats`
 * @param {HTMLElement} main
 */
export function list(main) {
  const conversations = new ConversationsView(null);
  new ConversationsController(conversations).start();
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Chats")),
    h(
      "div",
      { class: "chat-layout" },
      conversations.el,
      h("div", { class: "panel muted" }, h("p", {}, "Pick a conversation, or start one from a persona's page.")),
    ),
  );
}

/**
 * `#/c/:id`
 * @param {HTMLElement} main
 * @param {{params: Record<string, string>}} context
 * @returns {Promise<() => void>} what the router calls when the page closes
 */
export async function conversation(main, { params }) {
  /** @type {import("../chat/controller.js").Conversation} */
  const conv = await api.get(`/conversations/${encodeURIComponent(params.id)}`);
  const conversations = new ConversationsView(conv.id);
  const chat = new ChatController(conv, conversations);
  await chat.load();
  new ConversationsController(conversations).start();
  chat.view.mount(main, conversations.el);
  return chat.start();
}
