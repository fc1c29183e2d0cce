"""The persona form and what surrounds it (issue 13), as a person uses them in Chromium at
1366×860 and 390×844: the lorebook, the draft filling the form live, a fork's credit, and adult
content behind an opt-in and an 18+ question."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import create_persona, sign_up_with_password

# A slower offline provider: the draft arrives in chunks a person (and the test) can see.
STACK_ENV = {"OFFLINE_TOKEN_DELAY": "0.12"}
WIDE = (1366, 860)
PHONE = (390, 844)


def wide(ui: Browsing) -> Page:
    return ui.page(width=WIDE[0], height=WIDE[1])


def phone(ui: Browsing) -> Page:
    return ui.page(width=PHONE[0], height=PHONE[1])


BOOK: dict[str, Any] = {
    "name": "Saltmarsh lore",
    "description": "What the keeper knows.",
    "scan_depth": 3,
    "token_budget": 400,
    "recursive_scanning": False,
    "extensions": {"chub": {"alpha": 1}},
    "entries": [
        {
            "keys": ["lighthouse", "lamp"],
            "content": "The lamp has not gone dark in forty years.",
            "extensions": {"depth": 4, "weight": 10},
            "enabled": True,
            "insertion_order": 10,
            "id": 1,
            "comment": "The light",
            "selective": True,
            "secondary_keys": ["night"],
            "constant": False,
            "position": "before_char",
            "probability": 80,
        },
        {
            "keys": ["gulls"],
            "content": "{{char}} thinks gulls carry the souls of drowned sailors.",
            "extensions": {},
            "enabled": True,
            "insertion_order": 20,
            "id": 2,
        },
        {
            "keys": ["harbour", "quay"],
            "content": "The harbour silted up in the great storm.",
            "extensions": {},
            "enabled": False,
            "insertion_order": 30,
            "id": 3,
        },
    ],
}


def api_get(page: Page, path: str, query: dict[str, str] | None = None) -> Any:
    """Read the API as the signed-in page does (its own client, its own token)."""
    script = "async ([path, query]) => (await import('/js/api.js')).api.get(path, query)"
    return page.evaluate(script, [path, query or {}])


def card_file(tmp_path: Path) -> Path:
    data = {
        "name": "Keeper Odile",
        "description": "{{char}} keeps the Saltmarsh light.",
        "personality": "dry, patient",
        "scenario": "A storm night.",
        "first_mes": "*{{char}} trims the wick.* You're late, {{user}}.",
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "character_book": BOOK,
        "tags": ["sea"],
        "creator": "browser-test",
        "character_version": "1",
        "extensions": {},
    }
    path = tmp_path / "odile.json"
    path.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}))
    return path


def entry(page: Page, n: int) -> Any:
    return page.get_by_role("group", name=f"Lorebook entry {n}", exact=True)


def test_an_imported_lorebook_is_edited_on_the_form(ui: Browsing, tmp_path: Path) -> None:
    page = wide(ui)
    sign_up_with_password(page, "Loremaster")
    page.goto("/#/new")
    page.locator("#card-file").set_input_files(str(card_file(tmp_path)))
    expect(page.get_by_role("heading", name="Edit Keeper Odile")).to_be_visible()
    pid = page.url.split("/p/", 1)[1].split("/", 1)[0]
    stored = api_get(page, f"/personas/{pid}")["character_book"]
    assert stored == BOOK

    # The imported entries show on the form.
    expect(page.get_by_role("heading", name="Lorebook")).to_be_visible()
    expect(page.locator(".lore-entry")).to_have_count(3)
    expect(entry(page, 1).get_by_label("Keys", exact=True)).to_have_value("lighthouse, lamp")
    expect(entry(page, 1).get_by_label("Content", exact=True)).to_have_value(BOOK["entries"][0]["content"])
    expect(entry(page, 1).get_by_label("Insertion order", exact=True)).to_have_value("10")
    expect(entry(page, 1).get_by_label("Enabled", exact=True)).to_be_checked()
    expect(entry(page, 3).get_by_label("Enabled", exact=True)).not_to_be_checked()
    expect(entry(page, 1).locator("legend")).to_have_text("Entry 1: The light")
    entry(page, 1).scroll_into_view_if_needed()
    ui.shot(page, "lorebook-imported")
    ui.assert_labelled(page)

    # Saving another field leaves the book exactly as imported.
    form = page.get_by_role("form", name="Persona")
    form.get_by_label("Tagline", exact=True).fill("Keeper of the light")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Keeper Odile", exact=True)).to_be_visible()
    assert api_get(page, f"/personas/{pid}")["character_book"] == BOOK

    # Edit one entry, remove one, add one.
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.locator(".lore-entry")).to_have_count(3)
    entry(page, 1).get_by_label("Keys", exact=True).fill("lighthouse, lamp, beacon")
    entry(page, 1).get_by_label("Enabled", exact=True).uncheck()
    page.get_by_role("button", name="Remove lorebook entry 2").click()
    expect(page.locator(".lore-entry")).to_have_count(2)
    page.get_by_role("button", name="Add a lorebook entry").click()
    added = entry(page, 3)
    expect(added.get_by_label("Keys", exact=True)).to_be_focused()
    added.get_by_label("Keys", exact=True).fill("storm, squall")
    added.get_by_label("Content", exact=True).fill("Storms come from the north in {{char}}'s tales.")
    added.get_by_label("Insertion order", exact=True).fill("5")
    added.scroll_into_view_if_needed()
    ui.shot(page, "lorebook-edited")
    page.get_by_role("form", name="Persona").get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Keeper Odile", exact=True)).to_be_visible()

    book = api_get(page, f"/personas/{pid}")["character_book"]
    first, third = BOOK["entries"][0], BOOK["entries"][2]
    assert {k: v for k, v in book.items() if k != "entries"} == {
        k: v for k, v in BOOK.items() if k != "entries"
    }
    assert book["entries"][0] == {**first, "keys": ["lighthouse", "lamp", "beacon"], "enabled": False}
    assert book["entries"][1] == third
    assert book["entries"][2] == {
        "keys": ["storm", "squall"],
        "content": "Storms come from the north in {{char}}'s tales.",
        "extensions": {},
        "enabled": True,
        "insertion_order": 5,
        "id": 4,
    }

    # On a phone the entries stack and stay usable.
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.locator(".lore-entry")).to_have_count(3)
    entry(page, 1).scroll_into_view_if_needed()
    ui.shot(page, "lorebook-phone")


RECORDER = """() => {
    window.__draftStates = [];
    window.__sawJson = false;
    const look = () => {
        const form = document.querySelector("#draft-editor form");
        const text = document.querySelector("main").innerText;
        if (/[{]\\s*"name"|"tagline"\\s*:/.test(text)) window.__sawJson = true;
        if (!form) return;
        const state = {
            name: form.querySelector("[name=name]").value,
            description: form.querySelector("[name=description]").value,
            greeting: form.querySelector("[name=greeting]").value,
            inert: form.inert,
        };
        const last = window.__draftStates[window.__draftStates.length - 1];
        if (!last || JSON.stringify(last) !== JSON.stringify(state)) window.__draftStates.push(state);
    };
    window.__draftTimer = setInterval(look, 25);
}"""


def test_a_draft_fills_the_form_live_and_saves_privately_before_its_avatar(ui: Browsing) -> None:
    page = phone(ui)
    sign_up_with_password(page, "Dreamer")
    page.goto("/#/create")
    page.get_by_label("Your idea, in one line").fill("a retired lighthouse keeper who collects storm stories")
    page.evaluate(RECORDER)
    page.get_by_role("button", name="Draft it").click()

    # While it is written: the form is there, read-only, filling in; the field being written named.
    expect(page.locator("#draft-status")).to_contain_text(
        re.compile(r"Writing the (description|personality|scenario|greeting)")
    )
    form = page.get_by_role("form", name="Persona")
    assert form.evaluate("f => f.inert") is True
    ui.shot(page, "draft-writing")
    expect(page.locator("#draft-status")).to_contain_text("Draft ready")
    page.evaluate("clearInterval(window.__draftTimer)")
    states = page.evaluate("window.__draftStates")
    assert page.evaluate("window.__sawJson") is False, "the draft's JSON text was shown"
    final = {
        k: form.get_by_label(label, exact=True).input_value()
        for k, label in (("name", "Name"), ("description", "Description"), ("greeting", "Greeting"))
    }
    growing = [
        s for s in states if s["inert"] and s["description"] and s["description"] != final["description"]
    ]
    assert len({s["description"] for s in growing}) >= 3, states
    for s in growing:
        assert final["description"].startswith(s["description"]), (s, final)
        assert s["name"] == final["name"]
    assert form.evaluate("f => f.inert") is False
    assert form.get_by_label("Alternate greeting 2", exact=True).input_value()
    expect(form.get_by_label("Name", exact=True)).to_be_focused()
    ui.shot(page, "draft-ready")
    ui.assert_labelled(page)

    # "Generate avatar" saves a private draft first; "Save" publishes it with its visibility.
    form.get_by_label("Name", exact=True).fill("Old Tamsin")
    expect(form.get_by_label("Visibility", exact=True)).to_have_value("public")
    page.get_by_role("button", name="Generate avatar").click()
    expect(page.locator(".toast", has_text="Saved as a private draft")).to_be_visible()
    me = page.evaluate("async () => (await import('/js/api.js')).currentUser().id")
    mine = api_get(page, "/personas", {"creator_id": me})
    assert [(p["name"], p["visibility"]) for p in mine] == [("Old Tamsin", "private")]
    expect(page.locator(".avatar-preview img")).to_be_visible()
    form.get_by_role("button", name=re.compile("Save")).click()
    expect(page.get_by_role("heading", name="Old Tamsin", exact=True)).to_be_visible()
    expect(page.locator(".stats")).to_contain_text("public")
    ui.shot(page, "draft-saved")


def test_a_fork_credits_the_original_and_notifies_its_creator(ui: Browsing) -> None:
    creator = wide(ui)
    sign_up_with_password(creator, "Originator")
    original = create_persona(creator, "Captain Ysolde")
    expect(creator.locator("#live-status")).to_have_attribute("data-state", "open")

    forker = phone(ui)
    sign_up_with_password(forker, "Remixer")
    forker.goto(f"/#/p/{original}")
    forker.get_by_role("button", name="Fork").click()
    expect(forker.get_by_role("heading", name="Edit Captain Ysolde")).to_be_visible()
    forker.get_by_role("link", name="View the persona page").click()
    credit = forker.locator(".fork-credit")
    expect(credit).to_have_text("Forked from Captain Ysolde by Originator")
    expect(credit.get_by_role("link", name="Captain Ysolde")).to_have_attribute("href", f"#/p/{original}")
    ui.shot(forker, "fork-credit")

    # The original's creator hears about it live.
    expect(creator.locator("#notif-count")).to_have_text("1")
    creator.locator("#notif-button").click()
    expect(creator.locator("#notif-list")).to_contain_text("Remixer forked Captain Ysolde")
    ui.shot(creator, "fork-notification")

    credit.get_by_role("link", name="Originator").click()
    expect(forker.get_by_role("heading", name="Originator")).to_be_visible()


def create_adult_persona(page: Page, name: str) -> str:
    page.goto("/#/new")
    form = page.get_by_role("form", name="Persona")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Tagline", exact=True).fill("Velvet voice, sharp wit")
    form.get_by_label("Description", exact=True).fill(f"{name} sings at the Blue Lantern after midnight.")
    form.get_by_label("Greeting", exact=True).fill("*{{char}} leans on the piano.* Well, hello.")
    form.get_by_label("Tags", exact=True).fill("lantern, romance")
    form.get_by_label("Adult content (NSFW, 18+)").check()
    form.get_by_role("button", name="Create persona").click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    return page.url.rsplit("/", 1)[-1]


def test_adult_personas_need_an_opt_in_and_ask_before_showing(ui: Browsing) -> None:
    ui.allow_console(r"status of 422")  # the refused opt-in without the age confirmation
    creator = wide(ui)
    sign_up_with_password(creator, "Nightowl")
    create_persona(creator, "Lantern Keeper", tags="lantern, cozy")
    siren = create_adult_persona(creator, "Velvet Siren")
    # The creator sees their own, with its label, without being asked.
    expect(creator.locator(".title-row .adult-badge")).to_have_text("18+")
    creator.goto("/#/explore?q=lantern")
    expect(creator.locator(".card")).to_have_count(2)
    expect(creator.locator(f'.card[data-persona-id="{siren}"] .adult-badge')).to_be_visible()

    reader = phone(ui)
    sign_up_with_password(reader, "Reader")
    reader.goto("/#/explore?q=lantern")
    expect(reader.locator(".card")).to_have_count(1)
    expect(reader.locator(".card")).to_contain_text("Lantern Keeper")
    ui.shot(reader, "explore-without-adult")

    # A direct link asks first.
    reader.goto(f"/#/p/{siren}")
    expect(reader.get_by_role("heading", name="Adult content")).to_be_visible()
    expect(reader.get_by_text("Velvet Siren")).to_have_count(0)
    ui.shot(reader, "adult-question")
    reader.get_by_role("button", name="I am 18 or older: show it").click()
    expect(reader.get_by_role("heading", name="Velvet Siren", exact=True)).to_be_visible()
    expect(reader.locator(".title-row .adult-badge")).to_have_text("18+")
    ui.shot(reader, "adult-shown-once")

    # Asked again next time; from the question, turn adult content on for good.
    reader.reload()
    expect(reader.get_by_role("heading", name="Adult content")).to_be_visible()
    reader.get_by_role("link", name="turn on adult content").click()
    expect(reader.get_by_role("heading", name="Content settings")).to_be_visible()
    settings = reader.get_by_role("form", name="Content settings")
    show = settings.get_by_label("Show adult (NSFW) personas in Explore, search and the feed")
    expect(show).not_to_be_checked()
    show.check()
    confirm = settings.get_by_label("I confirm that I am 18 or older")
    expect(confirm).to_be_visible()
    settings.get_by_role("button", name="Save settings").click()
    expect(confirm).to_have_attribute("aria-invalid", "true")
    expect(settings.locator(".field-error:not([hidden])")).to_have_text(re.compile("18 or older"))
    ui.shot(reader, "opt-in-refused")
    ui.assert_labelled(reader)
    confirm.check()
    settings.get_by_role("button", name="Save settings").click()
    # Back on the persona, shown at once.
    expect(reader.get_by_role("heading", name="Velvet Siren", exact=True)).to_be_visible()

    reader.goto("/#/explore?q=lantern")
    expect(reader.locator(".card")).to_have_count(2)
    card = reader.locator(f'.card[data-persona-id="{siren}"]')
    expect(card.locator(".adult-badge")).to_have_text("18+")
    ui.shot(reader, "explore-with-adult")

    # A visitor is asked too, and never sees it listed.
    visitor = wide(ui)
    visitor.goto("/#/explore?q=lantern")
    expect(visitor.locator(".card")).to_have_count(1)
    visitor.goto(f"/#/p/{siren}")
    expect(visitor.get_by_role("heading", name="Adult content")).to_be_visible()
    ui.shot(visitor, "adult-question-visitor")
