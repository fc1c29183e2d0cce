"""A room in Chromium: three people in three browser contexts (one on a 360 px phone) and two
personas. The owner creates the room and an invite link, the others join by it; everyone sees
who is here, who is typing, an @-mention completed, and the reply stream token by token."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import NO_SIDEWAYS_SCROLL, create_persona, sign_up_with_password

# Slow enough to see (and photograph) a reply while it streams on every page.
STACK_ENV = {"OFFLINE_TOKEN_DELAY": "0.12"}


def members_here(page: Page, count: int) -> None:
    expect(page.locator('#room-members li[data-present="yes"]')).to_have_count(count)


def test_three_people_and_two_personas_in_one_room(ui: Browsing) -> None:
    owner, ann, ben = ui.page(), ui.page(), ui.page(width=360, height=780)
    sign_up_with_password(owner, "Olive")
    create_persona(owner, "Mara Vell")
    create_persona(owner, "Otto Brenner")
    sign_up_with_password(ann, "Ann")
    sign_up_with_password(ben, "Ben")

    owner.goto("/#/rooms")
    form = owner.get_by_role("form", name="Create a room")
    # Nothing chosen: said beside the personas.
    form.get_by_label("Title", exact=True).fill("Harbour night")
    form.get_by_role("button", name="Create room").click()
    expect(form.locator(".persona-picks .field-error")).to_have_text("Choose at least one persona.")
    form.get_by_label("Mara Vell", exact=True).check()
    form.get_by_label("Otto Brenner", exact=True).check()
    ui.assert_labelled(owner)
    form.get_by_role("button", name="Create room").click()
    expect(owner.get_by_role("heading", name="Harbour night")).to_be_visible()
    owner.get_by_role("button", name="Invite link").click()
    link = owner.locator("#invite-link").input_value()
    assert "/#/rooms/join/" in link

    join = urlsplit(link)
    for page in (ann, ben):
        page.goto(f"/{join.path.lstrip('/')}#{join.fragment}")
        expect(page.get_by_role("heading", name="Harbour night")).to_be_visible()
    # Presence: each page shows all three members here.
    for page in (owner, ann, ben):
        members_here(page, 3)
        expect(page.locator("#room-members li")).to_have_count(3)

    # Ann mentions Mara through the completion list, and Ben sees her typing.
    box = ann.locator("#room-input")
    box.click()
    box.press_sequentially("@Ma")
    expect(ann.get_by_role("option", name="@Mara Vell")).to_be_visible()
    ui.shot(ann, "ann-mention-completion")
    box.press("Tab")
    expect(box).to_have_value("@Mara Vell ")
    box.press_sequentially("what do you see out there tonight?")
    expect(ben.locator("#typing-status")).to_have_text("Ann is typing…")
    box.press("Enter")

    for page in (owner, ann, ben):
        expect(
            page.locator("#room-messages li.message").filter(has_text="what do you see out there tonight?")
        ).to_have_count(1)
        expect(page.locator("#room-messages li.streaming")).to_have_count(1)
    expect(ann.locator("#reply-status")).to_contain_text("Mara Vell is replying to you")
    expect(owner.locator("#reply-status")).to_contain_text("Mara Vell is replying to Ann")
    # Who may stop it: the asker and the owner, not Ben.
    expect(ann.locator("#reply-status").get_by_role("button", name="Stop")).to_be_visible()
    expect(owner.locator("#reply-status").get_by_role("button", name="Stop")).to_be_visible()
    expect(ben.locator("#reply-status").get_by_role("button", name="Stop")).to_have_count(0)
    ui.shot(owner, "owner-streaming")
    ui.shot(ann, "ann-streaming")
    ui.shot(ben, "ben-360px-streaming")

    for page in (owner, ann, ben):
        expect(page.locator("#room-messages li.streaming")).to_have_count(0, timeout=60_000)
        reply = page.locator("#room-messages li.message.persona").last
        expect(reply).to_contain_text("Mara Vell")
        expect(page.locator("#reply-status")).to_have_text("")
    texts = [
        p.locator("#room-messages li.message.persona .text").last.text_content() for p in (owner, ann, ben)
    ]
    assert texts[0] and texts[0] == texts[1] == texts[2]
    ui.shot(owner, "owner-replied")
    ui.shot(ann, "ann-replied")
    ui.shot(ben, "ben-360px-replied")
    assert ben.evaluate(NO_SIDEWAYS_SCROLL)

    # Ben leaves the room page: the others see him go.
    ben.goto("/#/rooms")
    members_here(owner, 2)
    expect(ben.locator("#rooms a", has_text="Harbour night")).to_be_visible()
    assert ben.evaluate(NO_SIDEWAYS_SCROLL)
    # The new-room form fits the phone: its fields one under another, each whole inside it.
    form = ben.get_by_role("form", name="Create a room")
    outer = form.bounding_box()
    assert outer is not None
    for name in ("Title", "Who answers"):
        inner = form.get_by_label(name, exact=True).bounding_box()
        assert inner is not None and outer["x"] <= inner["x"], name
        assert inner["x"] + inner["width"] <= outer["x"] + outer["width"], name
    # The owner removes Ann, whose page says so at once.
    owner.get_by_role("button", name="Remove Ann").click()
    owner.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(ann.get_by_role("alert")).to_have_text("You are no longer a member of this room.")
    expect(owner.locator("#room-members li")).to_have_count(2)
    ui.shot(ann, "ann-removed")
    ui.shot(owner, "owner-after-removal")
