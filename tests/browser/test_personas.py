"""Accounts, personas, cards, media and live notifications, as a person uses them in Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from PIL import Image, PngImagePlugin
from playwright.sync_api import expect

from tests.browser.conftest import Browsing
from tests.browser.flows import (
    PASSWORD,
    create_persona,
    new_email,
    revoke_the_other_session,
    sign_in_with_password,
    sign_up_by_api,
    sign_up_with_code,
    sign_up_with_password,
)
from tests.support.media import make_mp4
from tests.support.paths import SHARED

SERAPHINA = SHARED / "fixtures" / "cards" / "seraphina_v2.png"


def test_sign_up_with_an_emailed_code_and_stay_signed_in(ui: Browsing) -> None:
    page = ui.page()
    page.goto("/#/signin")  # `/` is the landing page for visitors (tests/browser/test_door.py)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    ui.shot(page, "sign-in")
    ui.assert_labelled(page)
    email = sign_up_with_code(page, ui.stack, "Coder")
    ui.shot(page, "signed-up")

    # The access token lives in memory only: a reload signs in again with the stored refresh token.
    page.reload()
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()
    expect(page.locator("table.sessions tbody tr")).to_have_count(1)
    expect(page.get_by_text("(this device)")).to_be_visible()
    ui.shot(page, "account")
    ui.assert_labelled(page)

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_revoke_another_session(ui: Browsing) -> None:
    laptop = ui.page()
    email = sign_up_with_password(laptop, "Twice")
    phone = ui.page(width=360, height=740)
    sign_in_with_password(phone, email)
    revoke_the_other_session(laptop)
    ui.shot(laptop, "one-session-left")

    # The phone's tokens are dead: its live stream says so, and it leaves for the sign-in page by
    # itself, saying why (tests/browser/test_account_keys.py has the other ways to find out).
    ui.allow_console(r"status of 401")
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(phone.locator("#signed-out-why")).to_contain_text("You were signed out")
    ui.shot(phone, "phone-signed-out")


def test_sign_in_with_the_keyboard_only(ui: Browsing) -> None:
    page = ui.page()
    email = sign_up_with_password(page, "Typist")
    page.goto("/#/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    focused = (
        "() => document.activeElement && (document.activeElement.name || document.activeElement.textContent)"
    )
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "email":
            break
    assert page.evaluate(focused) == "email", "the email field is reachable with Tab"
    # Focus is visible: the focused control draws an outline.
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "password"
    page.keyboard.type(PASSWORD)
    ui.shot(page, "keyboard-focus")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()


def test_a_field_error_is_shown_next_to_its_field(ui: Browsing) -> None:
    page = ui.page(width=360, height=740)
    sign_up_with_password(page, "Shorty")
    page.goto("/#/new")
    form = page.get_by_role("form", name="Persona")
    form.get_by_label("Name", exact=True).fill("x" * 80)
    form.get_by_label("Description", exact=True).fill("d")
    form.get_by_label("Greeting", exact=True).fill("g")
    form.get_by_label("Tags", exact=True).fill("a" * 40)
    # The server's refusal of the over-long tag is the point of this test.
    ui.allow_console(r"Failed to load resource: the server responded with a status of 422")
    form.get_by_role("button", name="Create persona").click()
    tags = form.get_by_label("Tags", exact=True)
    expect(tags).to_have_attribute("aria-invalid", "true")
    error = form.locator('[data-field="tags"] .field-error')
    expect(error).to_contain_text("at most 32 characters")
    ui.shot(page, "field-error-360px")
    ui.assert_labelled(page)
    # Nothing was created.
    page.goto("/#/mine")
    expect(page.get_by_text("You have not created a persona yet.")).to_be_visible()


def test_create_a_persona_with_every_field(ui: Browsing) -> None:
    page = ui.page()
    sign_up_with_password(page, "Maker")
    persona_id = create_persona(page, "Captain Mireille", tags="sea, mentor")
    ui.shot(page, "persona-page")
    expect(page.get_by_text("A stormy night in the lighthouse kitchen.")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="You came back")).to_be_visible()

    page.get_by_role("link", name="Edit", exact=True).click()
    form = page.get_by_role("form", name="Persona")
    expect(form.get_by_label("Alternate greeting 1", exact=True)).to_have_value(
        "*The lamp turns overhead.* You came back, {{user}}."
    )
    form.get_by_label("Tagline", exact=True).fill("Keeper of the northern light")
    form.get_by_label("Visibility", exact=True).select_option("unlisted")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Keeper of the northern light")).to_be_visible()
    expect(page.get_by_text("unlisted")).to_be_visible()
    assert page.url.endswith(f"#/p/{persona_id}")
    ui.shot(page, "edited")


def test_generate_a_persona_from_an_idea_and_save_it(ui: Browsing) -> None:
    page = ui.page()
    sign_up_with_password(page, "Dreamer")
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Your idea, in one line").fill("a retired lighthouse keeper who collects storm stories")
    page.get_by_role("button", name="Draft it").click()

    # The form fills in as the draft streams (persona_draft_progress), then becomes editable
    # (persona_draft_ready); tests/browser/test_form.py watches it grow.
    expect(page.locator("#draft-status")).to_contain_text("Draft ready")
    form = page.get_by_role("form", name="Persona")
    expect(form).to_be_visible()
    name = form.get_by_label("Name", exact=True)
    expect(name).not_to_have_value("")
    assert form.get_by_label("Alternate greeting 2", exact=True).input_value()
    ui.shot(page, "draft")
    ui.assert_labelled(page)

    name.fill("Old Tamsin")
    page.get_by_role("button", name="Generate avatar").click()
    avatar = page.locator(".avatar-preview img")
    expect(avatar).to_be_visible()
    expect(avatar).to_have_js_property("complete", True)
    assert avatar.evaluate("img => img.naturalWidth") > 0

    form.get_by_role("button", name=re.compile("Save")).click()
    expect(page.get_by_role("heading", name="Old Tamsin", exact=True)).to_be_visible()
    expect(page.locator(".persona-head img.avatar")).to_be_visible()
    ui.shot(page, "saved-draft")


def build_v2_card_png(path: Path) -> dict[str, object]:
    """A Character Card V2 as the public spec describes it: a PNG whose `tEXt` chunk `chara`
    holds the base64 of `{"spec": "chara_card_v2", "spec_version": "2.0", "data": {…}}`."""
    data: dict[str, object] = {
        "name": "Brother Anselm",
        "description": "{{char}} is a monk who copies forbidden books by candlelight.",
        "personality": "gentle, stubborn, curious",
        "scenario": "{{user}} knocks on the scriptorium door after vespers.",
        "first_mes": "*{{char}} shields the candle.* Close the door, quickly.",
        "mes_example": "<START>\n{{user}}: What are you copying?\n{{char}}: Nothing the abbot has seen.",
        "creator_notes": "Works best with slow, quiet scenes.",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": ["*Ink on his fingers.* You again.", "*He does not look up.* Sit."],
        "character_book": None,
        "tags": ["historical", "mystery"],
        "creator": "browser-test",
        "character_version": "1.2",
        "extensions": {"talkativeness": "0.5"},
    }
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(card).encode()).decode())
    image = Image.new("RGB", (64, 96), (90, 60, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    path.write_bytes(buffer.getvalue())
    return data


def test_import_a_png_card_and_see_its_fields(ui: Browsing, tmp_path: Path) -> None:
    page = ui.page()
    sign_up_with_password(page, "Archivist")
    card_path = tmp_path / "anselm.png"
    data = build_v2_card_png(card_path)
    page.goto("/#/new")
    page.locator("#card-file").set_input_files(str(card_path))
    form = page.get_by_role("form", name="Persona")
    expect(form.get_by_label("Name", exact=True)).to_have_value(str(data["name"]))
    expect(form.get_by_label("Description", exact=True)).to_have_value(str(data["description"]))
    expect(form.get_by_label("Personality", exact=True)).to_have_value(str(data["personality"]))
    expect(form.get_by_label("Scenario", exact=True)).to_have_value(str(data["scenario"]))
    expect(form.get_by_label("Greeting", exact=True)).to_have_value(str(data["first_mes"]))
    expect(form.get_by_label("Example dialogues", exact=True)).to_have_value(str(data["mes_example"]))
    expect(form.get_by_label("Alternate greeting 2", exact=True)).to_have_value("*He does not look up.* Sit.")
    expect(form.get_by_label("Tags", exact=True)).to_have_value("historical, mystery")
    expect(form.get_by_label("Creator notes", exact=True)).to_have_value(str(data["creator_notes"]))
    expect(form.get_by_label("Character version", exact=True)).to_have_value("1.2")
    # The card's picture became the avatar.
    expect(page.locator(".persona-head img.avatar")).to_be_visible()
    ui.shot(page, "imported-card")


def test_import_the_real_world_seraphina_card(ui: Browsing, tmp_path: Path) -> None:
    if not SERAPHINA.exists():
        pytest.skip("/work/shared fixtures are absent (a fresh clone has none)")
    page = ui.page()
    sign_up_with_password(page, "Reader")
    page.goto("/#/new")
    card = tmp_path / "seraphina_v2.png"
    shutil.copy(SERAPHINA, card)
    # Drag and drop, as a person would drop the file on the import area.
    handle = page.evaluate_handle(
        """async (b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "seraphina_v2.png", { type: "image/png" }));
            return dt;
        }""",
        base64.b64encode(card.read_bytes()).decode(),
    )
    page.dispatch_event("#card-drop", "drop", {"dataTransfer": handle})
    form = page.get_by_role("form", name="Persona")
    expect(form.get_by_label("Name", exact=True)).to_have_value("Seraphina")
    expect(form.get_by_label("Greeting", exact=True)).to_have_value(re.compile(r"^\*You wake with a start"))
    expect(form.get_by_label("Description", exact=True)).to_have_value(re.compile("Seraphina's Personality"))
    expect(form.get_by_label("Creator", exact=True)).to_have_value("OtisAlejandro")
    expect(form.get_by_label("Creator notes", exact=True)).to_have_value(re.compile("ST Default Bot"))
    expect(page.locator(".persona-head img.avatar")).to_be_visible()
    ui.shot(page, "seraphina")


def image_file(path: Path) -> Path:
    image = Image.new("RGB", (1200, 800))
    image.putdata([((x * 7) % 256, (y * 3) % 256, (x + y) % 256) for y in range(800) for x in range(1200)])
    image.save(path, "JPEG", quality=92)
    return path


def test_upload_an_image_and_see_its_thumbnail(ui: Browsing, tmp_path: Path) -> None:
    page = ui.page()
    sign_up_with_password(page, "Painter")
    create_persona(page, "Gallery Keeper", visibility="private")
    page.evaluate(
        """() => {
            window.__bars = [];
            new MutationObserver(() => {
                for (const bar of document.querySelectorAll('.gallery progress')) {
                    const label = bar.closest('.progress').querySelector('.progress-label').textContent;
                    window.__bars.push([label, bar.value]);
                }
            }).observe(document.body, { subtree: true, childList: true, attributes: true });
        }"""
    )
    page.locator(".media-panel input[type=file]").set_input_files(str(image_file(tmp_path / "harbour.jpg")))
    ready = page.locator(".gallery li[data-status=ready] img.thumb")
    expect(ready).to_be_visible()
    expect(ready).to_have_js_property("complete", True)
    size = ready.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert 0 < max(size) <= 256, f"a thumbnail fits 256 px, got {size}"
    bars: list[list[object]] = page.evaluate("window.__bars")
    assert any(str(label).startswith("Uploading harbour.jpg") for label, _ in bars), bars
    ui.shot(page, "thumbnail")
    ui.assert_labelled(page)

    ready.click()
    expect(page.locator(".viewer img")).to_be_visible()
    page.get_by_role("button", name="Use as avatar").click()
    expect(page.locator(".persona-head img.avatar")).to_be_visible()
    ui.shot(page, "avatar-from-gallery")


def test_upload_a_video_and_play_it(ui: Browsing, tmp_path: Path) -> None:
    page = ui.page()
    sign_up_with_password(page, "Filmmaker")
    create_persona(page, "Reel Keeper", visibility="private")
    clip = make_mp4(tmp_path / "harbour.mp4", seconds=3.0, size="640x480")
    page.locator(".media-panel input[type=file]").set_input_files(str(clip))
    tile = page.locator(".gallery li[data-status=ready]")
    expect(tile.locator("img.thumb")).to_have_js_property("complete", True)
    expect(tile.get_by_role("button", name=re.compile("^Play video"))).to_be_visible()
    tile.get_by_role("button", name=re.compile("^Play video")).click()
    video = page.locator(".viewer video")
    expect(video).to_be_visible()
    # Muted: Chromium lets a page start muted playback without a user gesture.
    played = video.evaluate(
        """async (v) => {
            v.muted = true;
            await v.play();
            await new Promise((done, fail) => {
                const check = () =>
                    v.currentTime >= 1 ? done() : v.error ? fail(v.error.message) : setTimeout(check, 50);
                check();
            });
            return { time: v.currentTime, width: v.videoWidth, height: v.videoHeight, state: v.readyState };
        }"""
    )
    assert played["time"] >= 1 and played["state"] >= 2, played
    assert (played["width"], played["height"]) == (640, 480), played
    ui.shot(page, "video-playing")


def test_a_shared_personas_avatar_is_seen_by_another_person(ui: Browsing, tmp_path: Path) -> None:
    owner = ui.page()
    media_calls: list[str] = []
    owner.on("request", lambda r: media_calls.append(f"{r.method} {r.url}") if "/media/" in r.url else None)
    sign_up_with_password(owner, "Portraitist")
    persona_id = create_persona(owner, "Harbour Warden", visibility="public")
    owner.locator(".media-panel input[type=file]").set_input_files(str(image_file(tmp_path / "warden.jpg")))
    expect(owner.locator(".gallery li[data-status=ready] img.thumb")).to_be_visible()
    owner.get_by_role("button", name="Use as avatar").click()
    expect(owner.locator(".persona-head img.avatar")).to_be_visible()
    # The server shares the avatar of a shared persona: the page never changes a media item itself.
    assert not [c for c in media_calls if c.startswith("PATCH ")], media_calls

    viewer = ui.page()
    viewer_calls: list[str] = []
    viewer.on("request", lambda r: viewer_calls.append(r.url))
    sign_up_with_password(viewer, "Onlooker")
    viewer.goto("/#/explore?q=Harbour%20Warden")
    picture = viewer.locator(f'.card[data-persona-id="{persona_id}"] .card-media img')
    expect(picture).to_be_visible()
    expect(picture).to_have_js_property("complete", True)
    assert picture.evaluate("img => img.naturalWidth") > 0
    viewer.locator(f'.card[data-persona-id="{persona_id}"] h2 a').click()
    large = viewer.locator(".persona-head img.avatar")
    expect(large).to_be_visible()
    expect(large).to_have_js_property("complete", True)
    assert large.evaluate("img => img.naturalWidth") > 0
    # URLs came with the personas: no media look-ups from the page, one per card or otherwise.
    assert not [u for u in viewer_calls if "/media/" in u and "/files/" not in u], viewer_calls
    ui.shot(viewer, "avatar-seen-by-another-person")


def test_a_like_from_another_account_arrives_live(ui: Browsing) -> None:
    owner = ui.page()
    sign_up_with_password(owner, "Owner")
    create_persona(owner, "Lantern Mae", tags="cozy")
    owner.goto("/#/explore")
    expect(owner.locator("#live-status")).to_have_attribute("data-state", "open")

    fan = ui.page(width=360, height=780, dark=True)
    sign_up_with_password(fan, "Fan")
    # Each follows its system's colour scheme: the same page, two themes.
    background = "() => getComputedStyle(document.body).backgroundColor"
    assert fan.evaluate(background) == "rgb(18, 17, 24)"
    assert owner.evaluate(background) == "rgb(247, 246, 251)"
    card = fan.locator(".card", has_text="Lantern Mae")
    expect(card).to_be_visible()
    ui.shot(fan, "fan-explore-360px-dark")
    like = card.get_by_role("button", name="Like Lantern Mae")
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")

    # The owner sees it without reloading: a toast, the bell's count, the list entry.
    expect(owner.locator(".toast", has_text="Fan liked Lantern Mae")).to_be_visible()
    expect(owner.locator("#notif-count")).to_have_text("1")
    owner.locator("#notif-button").click()
    expect(owner.locator("#notif-list li", has_text="Fan liked Lantern Mae")).to_be_visible()
    ui.shot(owner, "owner-notified")

    # Following the creator notifies too.
    card.get_by_text("More").click()
    card.get_by_role("button", name="Follow Owner").click()
    expect(owner.locator(".toast", has_text="Fan started following you")).to_be_visible()
    ui.shot(owner, "follow-notified")


def test_browse_search_filter_scroll_fork_report_and_export(ui: Browsing) -> None:
    # 25 public personas from another creator, made through the API (what the UI would do 25 times).
    with httpx.Client(base_url=ui.stack.url, timeout=30) as http:
        pair = sign_up_by_api(http, ui.stack, new_email("Prolific"), "Prolific")
        headers = {"authorization": f"Bearer {pair['access_token']}"}
        for i in range(25):
            tags = ["sea"] if i % 5 == 0 else ["land"]
            body = {
                "name": f"Zephyr {i:02d}" if i == 7 else f"Walker {i:02d}",
                "tagline": f"number {i}",
                "description": "A wanderer.",
                "greeting": "Hello.",
                "visibility": "public",
                "tags": tags,
            }
            assert http.post("/personas", json=body, headers=headers).status_code == 201

    page = ui.page()
    sign_up_with_password(page, "Browser")
    cards = page.locator("#persona-cards .card")
    expect(cards.first).to_be_visible()
    # Infinite scroll: the next page loads on its cursor as the end of the list comes into view.
    page.locator(".end-of-list").scroll_into_view_if_needed()
    expect(page.get_by_text("That's everyone.")).to_be_visible()
    assert cards.count() >= 25
    ui.shot(page, "scrolled")
    ui.assert_labelled(page)

    page.get_by_label("Search", exact=True).fill("zephyr")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Zephyr 07")
    assert "q=zephyr" in page.url
    page.get_by_label("Search", exact=True).fill("")
    expect(cards).not_to_have_count(1)
    cards.filter(has_text="Walker 05").get_by_role("button", name="Show personas tagged sea").click()
    expect(page.get_by_label("Tag", exact=True)).to_have_value("sea")
    expect(cards).to_have_count(5)
    page.get_by_label("Sort", exact=True).select_option("top")
    expect(cards).to_have_count(5)
    ui.shot(page, "filtered")

    walker = cards.filter(has_text="Walker 05")
    walker.get_by_text("More").click()
    walker.get_by_role("button", name="Report").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason", exact=True).fill("Copies another creator's character")
    dialog.get_by_role("button", name="Send report").click()
    expect(page.locator(".toast", has_text="the report was sent")).to_be_visible()

    # Another creator's persona page: follow its creator from there.
    walker_id = walker.get_attribute("data-persona-id")
    walker.get_by_role("link", name="Walker 05").click()
    expect(page.get_by_role("heading", name="Walker 05", exact=True)).to_be_visible()
    page.get_by_role("button", name="Follow Prolific").click()
    expect(page.get_by_role("button", name="Following Prolific")).to_have_attribute("aria-pressed", "true")
    assert "null" not in page.locator("main").inner_text()
    page.get_by_role("link", name="Prolific").click()
    expect(page.get_by_text("1 follower", exact=True)).to_be_visible()
    page.goto("/#/explore?tag=sea&sort=top")
    walker = page.locator(f'.card[data-persona-id="{walker_id}"]')
    walker.get_by_text("More").click()
    walker.get_by_role("button", name="Fork").click()
    form = page.get_by_role("form", name="Persona")
    expect(form.get_by_label("Name", exact=True)).to_have_value("Walker 05")
    expect(form.get_by_label("Visibility", exact=True)).to_have_value("private")
    page.get_by_role("link", name="View the persona page").click()
    expect(page.get_by_text("Forked from")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("button", name="Export card (JSON)").click()
    card = json.loads(Path(download.value.path()).read_text())
    assert card["spec"] == "chara_card_v3" and card["data"]["name"] == "Walker 05"
    with page.expect_download() as png:
        page.get_by_role("button", name="Export card (PNG)").click()
    assert Path(png.value.path()).read_bytes().startswith(b"\x89PNG")
    ui.shot(page, "fork")
