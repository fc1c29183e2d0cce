"""Chat with a real language model in Chromium (SmolLM2 in the dev stack's model server, one slot):
the reply streams in with no "offline" notice, and a second reply waits in line and says so."""

from __future__ import annotations

import contextlib

from playwright.sync_api import expect

from tests.browser.conftest import Browsing
from tests.browser.flows import create_persona, open_chat, sign_up_with_password

STACK_ENV = {
    "TEXT_PROVIDER": "",
    "MODEL_SERVER_MODEL": "smollm2-135m-instruct",
    "LLM_PARALLEL": "1",
    "PERSONA_REPLY_MAX_TOKENS": "300",
}


# Every status a reply showed, however briefly: the model's replies vary in length, and a short one
# passes through "Writing…" faster than a poll would see it.
RECORD_STATUSES = """() => {
  window.seenStatuses = [];
  const note = () => {
    for (const el of document.querySelectorAll("li.message.assistant .status")) {
      const text = el.textContent;
      if (text && window.seenStatuses.at(-1) !== text) window.seenStatuses.push(text);
    }
  };
  new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


def test_a_model_replies_and_a_second_reply_waits_for_its_turn(ui: Browsing) -> None:
    first = ui.page()
    sign_up_with_password(first, "Sailor")
    create_persona(first, "Keeper Ivo")
    open_chat(first, "Keeper Ivo")
    second = ui.page(width=390, height=844)
    sign_up_with_password(second, "Visitor")
    create_persona(second, "Keeper Ada")
    open_chat(second, "Keeper Ada")
    for page in (first, second):
        page.evaluate(RECORD_STATUSES)

    # Sent one after the other: the one slot is busy with the first, so the second waits in line.
    first.locator("#chat-input").fill("Tell me a very long story about every storm you have seen.")
    second.locator("#chat-input").fill("Hello!")
    first.get_by_role("button", name="Send", exact=True).click()
    expect(first.locator("li.message.assistant")).to_have_count(2)
    second.get_by_role("button", name="Send", exact=True).click()
    mine, waiting = (page.locator("li.message.assistant").last for page in (first, second))
    with contextlib.suppress(AssertionError):  # the picture, while the wait lasts
        expect(waiting.locator(".status")).to_have_text("Waiting for the model (1 ahead)", timeout=2_000)
        ui.shot(second, "waiting-for-the-model")

    expect(mine).to_have_attribute("data-status", "done", timeout=300_000)
    expect(waiting).to_have_attribute("data-status", "done", timeout=300_000)
    assert "Writing…" in first.evaluate("window.seenStatuses")
    assert "Waiting for the model (1 ahead)" in second.evaluate("window.seenStatuses")
    for page in (first, second):
        expect(page.locator("li.message.assistant").last.locator(".text")).not_to_be_empty()
        expect(page.locator("#offline-notice")).to_have_count(0)
    ui.shot(first, "model-replied")
