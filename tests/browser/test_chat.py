"""Chat in Chromium: the reply grows token by token from `ai_chat_chunk` events, can be stopped,
regenerated, swiped, edited, and survives the live connection dropping mid-reply."""

from __future__ import annotations

import os
import re
import signal
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import NO_SIDEWAYS_SCROLL, create_persona, open_chat, sign_up_with_password

# The offline provider at a model-like pace slow enough to press Stop mid-reply on a busy machine.
STACK_ENV = {"OFFLINE_TOKEN_DELAY": "0.12"}

RECORDER = """() => {
    // Every state of the newest reply as the page shows it: (message id, status, text).
    window.__states = [];
    const list = document.getElementById("messages");
    const record = () => {
        const li = [...list.querySelectorAll("li.message.assistant")].pop();
        if (!li) return;
        const text = li.querySelector(".text") ? li.querySelector(".text").textContent : "";
        const last = window.__states[window.__states.length - 1];
        const state = { id: li.dataset.messageId, status: li.dataset.status, text };
        if (!last || last.id !== state.id || last.status !== state.status || last.text !== state.text) {
            window.__states.push(state);
        }
    };
    const options = { subtree: true, childList: true, characterData: true, attributes: true };
    new MutationObserver(record).observe(list, options);
}"""

AFTER_RELOAD = """new MutationObserver(() => {
    const li = document.querySelector('li[data-message-id="REPLY"]');
    if (!li) return;
    (window.__after = window.__after || []).push([li.dataset.status, li.querySelector(".text").textContent]);
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });"""


def send(page: Page, text: str) -> None:
    page.evaluate(RECORDER)
    page.locator("#chat-input").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("li.message.user").last).to_contain_text(text)


def newest_reply(page: Page) -> tuple[str, list[dict[str, Any]]]:
    reply_id = page.locator("li.message.assistant").last.get_attribute("data-message-id") or ""
    states: list[dict[str, Any]] = page.evaluate("window.__states")
    return reply_id, [s for s in states if s["id"] == reply_id]


def test_the_reply_grows_token_by_token(ui: Browsing) -> None:
    page = ui.page()
    sign_up_with_password(page, "Talker")
    create_persona(page, "Keeper Ivo")
    open_chat(page, "Keeper Ivo")
    send(page, "Tell me about the worst storm you remember")
    reply = page.locator("li.message.assistant").last
    expect(reply).to_have_attribute("data-status", "pending")
    ui.shot(page, "streaming")
    expect(reply).to_have_attribute("data-status", "done")
    # No model is connected: the chat says so once, not in every reply.
    expect(page.locator("#offline-notice")).to_have_count(1)
    expect(page.locator("#offline-notice")).to_contain_text("No language model is connected")
    ui.shot(page, "replied")
    ui.assert_labelled(page)

    reply_id, states = newest_reply(page)
    growing = [s["text"] for s in states if s["status"] == "pending" and s["text"]]
    done = [s["text"] for s in states if s["status"] == "done"]
    assert len(growing) >= 3, f"the reply should grow through several states before ai_chat_done: {states}"
    for before, after in zip(growing, growing[1:], strict=False):
        assert after.startswith(before) and len(after) > len(before), (before, after)
    assert done, states
    # Every token arrived: the streamed text is the whole reply ai_chat_done carried.
    assert growing[-1] == done[-1]
    assert done[-1].endswith("?")  # the offline reply ends with its question

    # The reply was stored: a reload shows the same text, and the conversation is listed.
    page.reload()
    expect(page.locator(f'li[data-message-id="{reply_id}"] .text')).to_have_text(done[-1])
    expect(page.locator("#conversations a", has_text="Keeper Ivo")).to_be_visible()

    # On a phone the list of chats fits the screen: the reply's long preview is shortened.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/#/chats")
    expect(page.locator("#conversations a", has_text="Keeper Ivo")).to_be_visible()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    ui.shot(page, "chats-on-a-phone")


def test_regenerate_swipe_edit_and_delete(ui: Browsing) -> None:
    page = ui.page(width=360, height=800)
    sign_up_with_password(page, "Swiper")
    create_persona(page, "Warden Pell")
    open_chat(page, "Warden Pell")
    send(page, "Which ghost haunts the east stair?")
    reply = page.locator("li.message.assistant").last
    expect(reply).to_have_attribute("data-status", "done")
    first = reply.locator(".text").text_content()

    page.evaluate(RECORDER)
    page.get_by_role("button", name="Regenerate").click()
    expect(reply).to_have_attribute("data-status", "pending")
    expect(reply).to_have_attribute("data-status", "done")
    expect(reply.locator(".swipe-count")).to_have_text("2/2")
    second = reply.locator(".text").text_content()
    _, states = newest_reply(page)
    assert len([s for s in states if s["status"] == "pending" and s["text"]]) >= 3, states
    ui.shot(page, "regenerated-360px")

    reply.get_by_role("button", name="Previous alternative").click()
    expect(reply.locator(".swipe-count")).to_have_text("1/2")
    expect(reply.locator(".text")).to_have_text(first or "")
    reply.get_by_role("button", name="Next alternative").click()
    expect(reply.locator(".text")).to_have_text(second or "")

    mine = page.locator("li.message.user").last
    mine.get_by_role("button", name="Edit this message").click()
    mine.get_by_label("Edit message").fill("Which ghost haunts the west stair?")
    mine.get_by_role("button", name="Save").click()
    expect(mine.locator(".text")).to_have_text("Which ghost haunts the west stair?")
    page.reload()
    expect(page.locator("li.message.user").last.locator(".text")).to_have_text(
        "Which ghost haunts the west stair?"
    )

    page.locator("li.message.user").last.get_by_role("button", name="Delete this message").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete only my message").click()
    expect(page.locator("li.message.user")).to_have_count(0)
    ui.shot(page, "deleted")


def test_stop_a_reply(ui: Browsing) -> None:
    page = ui.page()
    sign_up_with_password(page, "Stopper")
    create_persona(page, "Hasty Bram")
    open_chat(page, "Hasty Bram")
    send(page, "Start a very long story about the lighthouse and every storm it has seen")
    reply = page.locator("li.message.assistant").last
    expect(reply.locator(".text")).not_to_be_empty()
    # Stop in Send's place while the reply is written; Send back once it has ended.
    send_button = page.get_by_role("button", name="Send", exact=True)
    expect(send_button).to_be_hidden()
    ui.shot(page, "writing")
    page.get_by_role("button", name="Stop generating").click()
    expect(reply).to_have_attribute("data-status", "cancelled")
    expect(reply).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Stop generating")).to_be_hidden()
    expect(send_button).to_be_visible()
    partial = reply.locator(".text").text_content() or ""
    # Stopped, not finished: "cancelled" above is the worker's word that it stopped mid-reply.
    assert partial, "the words streamed before the stop are kept"
    ui.shot(page, "stopped")

    # The partial reply is kept, and the conversation goes on.
    page.reload()
    kept = page.locator("li.message.assistant").last
    expect(kept).to_have_attribute("data-status", "cancelled")
    expect(kept.locator(".text")).to_have_text(partial)
    send(page, "Never mind. Good night")
    expect(page.locator("li.message.assistant").last).to_have_attribute("data-status", "done")


def test_the_next_message_goes_as_soon_as_the_reply_ends(ui: Browsing) -> None:
    page = ui.page()
    sign_up_with_password(page, "Quick")
    create_persona(page, "Brisk Ada")
    open_chat(page, "Brisk Ada")
    # The server announces a reply once stored, so the page never asks whether it caught up.
    asked: list[str] = []
    one_conversation = re.compile(r"/conversations/[^/]+$")

    def note(request: Request) -> None:
        if request.method == "GET" and one_conversation.search(urlsplit(request.url).path):
            asked.append(request.url)

    page.on("request", note)
    for i in range(3):
        send(page, f"Question number {i}, answered at once?")
        expect(page.locator("li.message.assistant").last).to_have_attribute("data-status", "done")
    expect(page.locator("li.message.user")).to_have_count(3)
    expect(page.get_by_text("still being written")).to_have_count(0)
    ui.shot(page, "sent-at-once")
    assert asked == [], asked


def test_a_reload_mid_reply_keeps_the_text_already_streamed(ui: Browsing) -> None:
    page = ui.page()
    sign_up_with_password(page, "Reloader")
    create_persona(page, "Patient Oona")
    open_chat(page, "Patient Oona")
    send(page, "Describe the lamp room, slowly, every brass fitting of it")
    page.wait_for_function(
        "() => window.__states.filter((s) => s.status === 'pending' && s.text).length >= 3", timeout=30_000
    )
    reply_id, states = newest_reply(page)
    seen = [s["text"] for s in states if s["status"] == "pending" and s["text"]][-1]
    # Record from the very start of the reloaded page, before any replayed event is shown.
    page.add_init_script(AFTER_RELOAD.replace("REPLY", reply_id))
    page.reload()
    reply = page.locator(f'li[data-message-id="{reply_id}"]')
    expect(reply).to_have_attribute("data-status", "done")
    after: list[list[str]] = page.evaluate("window.__after || []")
    streamed = [text for status, text in after if status == "pending" and text]
    final = reply.locator(".text").text_content() or ""
    assert final.startswith(seen)
    # The reloaded page never shows only the tail of the reply: the part streamed before the
    # reload is replayed, so every state it shows is a beginning of the whole reply.
    assert all(final.startswith(text) for text in streamed), (final, streamed)
    ui.shot(page, "reloaded")


def test_the_stream_resumes_after_the_connection_drops(ui: Browsing) -> None:
    """The gateway dies mid-reply (every open connection drops); the page reconnects with a new
    ticket and its last event id, and the reply completes without losing a word."""
    page = ui.page()
    sign_up_with_password(page, "Survivor")
    create_persona(page, "Steady Lou")
    open_chat(page, "Steady Lou")
    # What Chromium logs while the gateway is gone is expected here, and only here.
    ui.allow_console(r"net::ERR_|Failed to load resource")
    send(page, "Tell me the whole story of the night the lamp went out")
    reply = page.locator("li.message.assistant").last
    page.wait_for_function(
        "() => window.__states.filter((s) => s.status === 'pending' && s.text).length >= 3", timeout=30_000
    )
    before = len(page.evaluate("window.__states"))
    os.kill(ui.stack.pid("gateway"), signal.SIGKILL)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "reconnecting")
    ui.shot(page, "reconnecting")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open", timeout=60_000)
    expect(reply).to_have_attribute("data-status", "done", timeout=60_000)
    ui.shot(page, "resumed")

    _, states = newest_reply(page)
    growing = [s["text"] for s in states if s["status"] == "pending" and s["text"]]
    done = [s["text"] for s in states if s["status"] == "done"]
    assert len(page.evaluate("window.__states")) > before
    for earlier, later in zip(growing, growing[1:], strict=False):
        assert later.startswith(earlier), (earlier, later)
    assert growing[-1] == done[-1], "the text streamed across the drop is the whole reply"
