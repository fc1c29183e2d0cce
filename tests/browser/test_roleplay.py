"""Chatting like a role-play app, in Chromium: *actions* rendered in italics (never as markup),
who I play in the greeting, editing with Escape to cancel, renaming, resuming and starting chats,
and deleting a message with the reply that answered it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import create_persona, open_chat, sign_up_with_password

WIDE = (1366, 860)
PHONE = (390, 844)


def send(page: Page, text: str) -> None:
    before = page.locator("li.message.assistant").count()
    page.locator("#chat-input").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("li.message.assistant")).to_have_count(before + 1)
    expect(page.locator("li.message.assistant").last).to_have_attribute("data-status", "done")


def conversation_id(page: Page) -> str:
    return page.url.rsplit("/", 1)[-1]


def set_account_persona(page: Page, name: str, about: str) -> None:
    page.goto("/#/account")
    form = page.get_by_role("form", name="Your persona in chats")
    form.get_by_label("Name in chats", exact=True).fill(name)
    form.get_by_label("About you", exact=True).fill(about)
    form.get_by_role("button", name="Save persona").click()
    expect(page.get_by_text(f"In chats you are now {name}.")).to_be_visible()


def test_role_play_chat(ui: Browsing) -> None:
    page = ui.page(width=WIDE[0], height=WIDE[1])
    sign_up_with_password(page, "Rowan")
    set_account_persona(page, "Captain Wren", "A sailor with a scar across one cheek.")
    ui.shot(page, "account-persona")
    ui.assert_labelled(page)

    # The persona page fills in {{char}} and {{user}} and renders the actions.
    create_persona(page, "Keeper Ivo")
    greeting = page.locator("dd", has_text="sets down the kettle")
    expect(greeting).to_contain_text("Another storm, Captain Wren. Sit.")
    expect(greeting.locator("em")).to_have_text("Keeper Ivo sets down the kettle.")
    expect(page.locator("dl.fields")).not_to_contain_text("{{")
    ui.shot(page, "persona-page")

    open_chat(page, "Keeper Ivo")
    first_chat = conversation_id(page)
    hello = page.locator("li.message.assistant").first
    expect(hello.locator(".text")).to_have_text(
        "Keeper Ivo sets down the kettle. Another storm, Captain Wren. Sit."
    )
    expect(hello.locator(".text em")).to_have_text("Keeper Ivo sets down the kettle.")

    # My *action* is italics; a <b> I type stays text, never markup.
    send(page, '*waves from the door* "Evening, keeper." <b>not bold</b> `code`')
    mine = page.locator("li.message.user").last
    expect(mine.locator(".text em")).to_have_text("waves from the door")
    expect(mine.locator(".text .speech")).to_have_text('"Evening, keeper."')
    expect(mine.locator(".text code")).to_have_text("code")
    expect(mine.locator(".text b")).to_have_count(0)
    expect(mine.locator(".text")).to_contain_text("<b>not bold</b>")
    ui.shot(page, "rendered")

    # Edit in a full-width editor; Escape cancels and changes nothing.
    original = mine.locator(".text").text_content()
    mine.get_by_role("button", name="Edit this message").click()
    editor = mine.get_by_label("Edit message")
    expect(editor).to_be_focused()
    editor.fill("*changes my mind*")
    width = mine.locator(".bubble").bounding_box()
    list_width = page.locator("#messages").bounding_box()
    assert width and list_width and width["width"] > 0.9 * list_width["width"], (width, list_width)
    ui.shot(page, "editing")
    editor.press("Escape")
    expect(mine.get_by_label("Edit message")).to_have_count(0)
    expect(mine.locator(".text")).to_have_text(original or "")
    expect(mine.get_by_role("button", name="Edit this message")).to_be_focused()
    mine.get_by_role("button", name="Edit this message").click()
    mine.get_by_label("Edit message").fill("*knocks twice* Anyone home?")
    mine.get_by_role("button", name="Save").click()
    expect(mine.locator(".text em")).to_have_text("knocks twice")

    # Rename the chat: the heading and the list say so, after a reload too.
    page.get_by_role("button", name="Rename").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Title").fill("Storm night")
    dialog.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", name="Storm night", exact=True)).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Storm night", exact=True)).to_be_visible()
    expect(page.locator("#conversations")).to_contain_text("Storm night")

    # Delete my message with the reply that answered it; the later turn stays.
    send(page, "Is the lamp lit?")
    first_question = page.locator("li.message.user").first
    answer_id = page.locator("li.message.assistant").nth(1).get_attribute("data-message-id")
    question_id = first_question.get_attribute("data-message-id")
    first_question.get_by_role("button", name="Delete this message").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete with the reply").click()
    expect(page.locator(f'li[data-message-id="{question_id}"]')).to_have_count(0)
    expect(page.locator(f'li[data-message-id="{answer_id}"]')).to_have_count(0)
    expect(page.locator("li.message.user")).to_have_count(1)
    expect(page.locator("li.message.assistant")).to_have_count(2)
    page.reload()
    expect(page.locator("li.message")).to_have_count(3)
    expect(page.locator("li.message.user .text")).to_have_text("Is the lamp lit?")
    ui.shot(page, "deleted-with-reply")

    # "Chat" on the persona resumes this conversation; "New chat" starts another.
    page.get_by_role("link", name="Persona", exact=True).click()
    page.get_by_role("button", name="Chat with Keeper Ivo").click()
    expect(page.get_by_role("heading", name="Storm night", exact=True)).to_be_visible()
    assert conversation_id(page) == first_chat
    page.get_by_role("button", name="New chat").click()
    expect(page.get_by_role("heading", name="Keeper Ivo", exact=True)).to_be_visible()
    expect(page).not_to_have_url(re.compile(first_chat))
    expect(page.locator("li.message")).to_have_count(1)

    # Who I am in this chat only: the untouched greeting now names Ash.
    page.locator("#chat-settings summary").click()
    settings = page.get_by_role("form", name="Who you are in this chat")
    settings.get_by_label("Your name here").fill("Ash")
    settings.get_by_label("About you here").fill("The harbour master.")
    settings.get_by_role("button", name="Use in this chat").click()
    expect(page.locator("li.message.assistant").first.locator(".text")).to_contain_text("Another storm, Ash.")
    expect(page.locator("#chat-settings summary")).to_have_text("You in this chat: Ash")
    ui.shot(page, "chat-persona")
    ui.assert_labelled(page)

    # Delete this chat: back to the list, where the first one remains.
    page.get_by_role("button", name="Delete chat").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete chat").click()
    expect(page.get_by_role("heading", name="Chats", exact=True)).to_be_visible()
    expect(page.locator("#conversations li")).to_have_count(1)
    expect(page.locator("#conversations")).to_contain_text("Storm night")
    ui.shot(page, "chats")


def test_role_play_on_a_phone(ui: Browsing) -> None:
    page = ui.page(width=PHONE[0], height=PHONE[1])
    sign_up_with_password(page, "Juno")
    create_persona(page, "Warden Pell")
    ui.shot(page, "persona-390px")
    open_chat(page, "Warden Pell")
    send(page, "*lights a lantern* Who walks the stair tonight?")
    mine = page.locator("li.message.user").last
    expect(mine.locator(".text em")).to_have_text("lights a lantern")
    ui.shot(page, "chat-390px")
    mine.get_by_role("button", name="Edit this message").click()
    width = mine.locator(".bubble").bounding_box()
    assert width and width["width"] > 300, width
    ui.shot(page, "editing-390px")
    mine.get_by_label("Edit message").press("Escape")
    expect(mine.locator(".text em")).to_have_text("lights a lantern")
    page.locator("#chat-settings summary").click()
    # At the top, so the sticky bar sits where it belongs in a full-page screenshot.
    page.evaluate("window.scrollTo(0, 0)")
    ui.shot(page, "settings-390px")
