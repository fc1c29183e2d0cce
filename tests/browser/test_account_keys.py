"""The account page's API keys and "Sign out everywhere", a session ended elsewhere leaving its
page at once, the bottom tabs of a phone, words for errors, and the API reference at /docs, as a
person meets them in Chromium (1366×860 and 390×844; the phone tabs at 360×740)."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import (
    NO_SIDEWAYS_SCROLL,
    fill_sign_in,
    new_email,
    revoke_the_other_session,
    sign_in_with_password,
    sign_up_by_api,
    sign_up_with_password,
)

SIZES = {"desktop": (1366, 860), "phone": (390, 844)}


def viewport_shot(ui: Browsing, page: Page, name: str) -> None:
    """A screenshot of what the window shows (the API reference's full page is 25,000 px tall)."""
    ui.shots += 1
    page.screenshot(path=str(ui.out / f"{ui.shots:02d}-{name}.png"))


@pytest.mark.parametrize("size", SIZES)
def test_an_api_key_is_shown_once_copied_listed_used_and_revoked(ui: Browsing, size: str) -> None:
    width, height = SIZES[size]
    page = ui.page(width=width, height=height)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_up_with_password(page, f"Keeper{size.title()}")
    page.goto("/#/account")
    keys = page.get_by_role("region", name="API keys")
    expect(keys.get_by_text("No API keys yet.")).to_be_visible()

    # A key needs a name: the refusal is next to the field.
    ui.allow_console(r"Failed to load resource: the server responded with a status of 422")
    create = keys.get_by_role("form", name="Create an API key")
    create.get_by_role("button", name="Create key").click()
    expect(create.locator('[data-field="name"] .field-error')).to_be_visible()

    create.get_by_label("Key name", exact=True).fill("backup script")
    create.get_by_role("button", name="Create key").click()
    shown = keys.get_by_role("region", name="Your new key “backup script”")
    expect(shown).to_be_visible()
    expect(shown.get_by_text("it is shown only this once")).to_be_visible()
    key = shown.get_by_label("API key", exact=True).input_value()
    assert re.fullmatch(r"pck_[A-Za-z0-9_-]{40,}", key), key
    expect(shown.get_by_role("button", name="Copy key")).to_be_focused()
    shown.get_by_role("button", name="Copy key").click()
    expect(page.locator(".toast", has_text="Key copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == key

    row = keys.locator("tbody tr", has_text="backup script")
    expect(row).to_contain_text(key[:12])
    expect(row).to_contain_text("Never used")
    ui.shot(page, f"{size}-key-created")
    ui.assert_labelled(page)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    # A program uses it; the list says when. The key itself is never shown again.
    used = page.request.get("/auth/me", headers={"x-api-key": key})
    assert used.status == 200 and used.json()["data"]["display_name"] == f"Keeper{size.title()}"
    shown.get_by_role("button", name="Done").click()
    expect(shown).to_have_count(0)
    page.reload()
    expect(row).to_contain_text(re.compile(r"Last used (now|\d+ seconds? ago)"))
    assert key not in page.content()
    ui.shot(page, f"{size}-key-used")

    # Revoking asks first; then programs using it are refused.
    row.get_by_role("button", name="Revoke backup script").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Programs using this key are refused")
    ui.shot(page, f"{size}-revoke-key")
    dialog.get_by_role("button", name="Revoke key").click()
    expect(keys.get_by_text("No API keys yet.")).to_be_visible()
    for _ in range(100):
        if page.request.get("/auth/me", headers={"x-api-key": key}).status == 401:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("the revoked key still works")


@pytest.mark.parametrize("size", SIZES)
def test_sign_out_everywhere_sends_every_device_to_the_sign_in_page(ui: Browsing, size: str) -> None:
    width, height = SIZES[size]
    laptop = ui.page(width=width, height=height)
    email = sign_up_with_password(laptop, f"Everywhere{size.title()}")
    phone = ui.page(width=390, height=844)
    sign_in_with_password(phone, email)
    phone.goto("/#/chats")
    expect(phone.get_by_role("heading", name="Chats", exact=True)).to_be_visible()
    expect(phone.locator("#live-status")).to_have_attribute("data-state", "open")

    laptop.goto("/#/account")
    expect(laptop.locator("table.sessions tbody tr")).to_have_count(2)
    laptop.get_by_role("button", name="Sign out everywhere").click()
    dialog = laptop.get_by_role("dialog")
    expect(dialog).to_contain_text("this one included")
    ui.shot(laptop, f"{size}-sign-out-everywhere")
    dialog.get_by_role("button", name="Sign out everywhere").click()

    expect(laptop.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(laptop.locator("#signed-out-why")).to_have_text(re.compile("^You signed out everywhere"))
    ui.shot(laptop, f"{size}-signed-out-everywhere")

    # The phone did nothing: its live stream said the session was revoked, and it left the page.
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible(timeout=5_000)
    expect(phone.locator("#signed-out-why")).to_have_text(
        re.compile("^You were signed out: this session was ended")
    )
    assert "next=%2Fchats" in phone.url, phone.url
    ui.shot(phone, f"{size}-phone-left-its-page")

    # Signing in again brings it back to the page it was on.
    fill_sign_in(phone, email)
    expect(phone.get_by_role("heading", name="Chats", exact=True)).to_be_visible()


def revoked_phone(ui: Browsing, name: str) -> tuple[Page, str]:
    """A phone signed in without a live stream (blocked), whose session the laptop has revoked:
    only its next request finds out (401, refresh refused). Returns it and the account's email."""
    laptop = ui.page()
    email = sign_up_with_password(laptop, name)
    phone = ui.page(width=360, height=740)
    phone.route(re.compile(r"/events\?"), lambda route: route.abort())
    ui.allow_console(r"Failed to load resource|net::ERR_FAILED|status of 401")
    sign_in_with_password(phone, email)
    revoke_the_other_session(laptop)
    return phone, email


def test_a_refresh_refused_says_the_session_ended(ui: Browsing) -> None:
    """Without a live stream (blocked here), the next request finds out: 401, refresh refused."""
    phone, _ = revoked_phone(ui, "Refused")

    # (Account, not My personas: community.js's infinite list lets a refused page load escape
    # as an uncaught rejection, which fails any browser test.) Opened by its address, as the
    # tab does: a background request may have found out first and hidden the members' tabs;
    # either way the sign-in page says why.
    phone.evaluate("location.hash = '#/account'")
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(phone.locator("#signed-out-why")).to_have_text(re.compile("^Your session has ended"))
    ui.shot(phone, "session-ended")


def test_a_session_found_ended_in_the_background_is_explained_at_the_next_members_page(ui: Browsing) -> None:
    """A background request finds out first; the members' page opened after that still says why."""
    phone, email = revoked_phone(ui, "Quietly")

    # A background request (as a notifications check or a like would send) is refused first.
    phone.evaluate("import('/js/api.js').then((m) => m.api.get('/auth/me')).catch(() => {})")
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(phone.locator("#signed-out-why")).to_have_text(re.compile("^Your session has ended"))
    assert "next=%2Fexplore" in phone.url, phone.url

    phone.evaluate("location.hash = '#/account'")
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(phone.locator("#signed-out-why")).to_have_text(re.compile("^Your session has ended"))
    assert "next=%2Faccount" in phone.url, phone.url
    ui.shot(phone, "session-ended-found-in-the-background")

    # Signing in again comes back to the page that was asked for.
    fill_sign_in(phone, email)
    expect(phone.get_by_role("heading", name="Account")).to_be_visible()


def test_a_phone_reaches_every_page_from_the_bottom_tabs(ui: Browsing) -> None:
    page = ui.page(width=360, height=740)
    page.goto("/#/explore")
    # A visitor: Explore and the way in, on the top bar; nothing scrolls sideways.
    banner = page.get_by_role("banner")
    for name in ("Explore", "Sign in", "Sign up"):
        expect(banner.get_by_role("link", name=name, exact=True)).to_be_visible()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    ui.shot(page, "visitor-phone")

    sign_up_with_password(page, "Thumb")
    nav = page.get_by_role("navigation", name="Main")
    box = nav.bounding_box()
    assert box is not None and abs(box["y"] + box["height"] - 740) <= 1, box  # along the bottom
    destinations = {
        "Explore": "Explore personas",
        "Create": "Create a persona from an idea",
        "My personas": "My personas",
        "Chats": "Chats",
        "Rooms": "Rooms",
        "Account": "Your account",
    }
    for link, heading in destinations.items():
        tab = nav.get_by_role("link", name=link, exact=True)
        expect(tab).to_be_in_viewport()
        tab.click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(tab).to_have_attribute("aria-current", "page")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), link
    # The rest of the top bar: notifications and the live status.
    expect(banner.get_by_role("button", name="Notifications")).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    # The page's end is not hidden behind the tabs.
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    last = page.get_by_role("region", name="API keys")
    last_box, nav_box = last.bounding_box(), nav.bounding_box()
    assert last_box is not None and nav_box is not None
    assert last_box["y"] + last_box["height"] <= nav_box["y"], (last_box, nav_box)
    ui.shot(page, "member-phone-account")
    page.get_by_role("button", name="Notifications").click()
    expect(page.get_by_role("region", name="Notifications")).to_be_visible()
    ui.shot(page, "member-phone-notifications")


def test_errors_in_words(ui: Browsing) -> None:
    page = ui.page(width=1366, height=860)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    email = sign_up_with_password(page, "Paster")

    # A paste longer than the field is cut by the browser; the page says so.
    page.goto("/#/account")
    bio = page.get_by_label("Bio", exact=True)
    page.evaluate("(text) => navigator.clipboard.writeText(text)", "a" * 1234)
    bio.click()
    page.keyboard.press("ControlOrMeta+V")
    expect(bio).to_have_value("a" * 1000)
    note = page.locator(".paste-cut")
    expect(note).to_have_text(
        "Your paste was cut to fit: this field takes at most 1,000 characters, so the last 234 were left out."
    )
    note_id = note.get_attribute("id")
    assert note_id and note_id in (bio.get_attribute("aria-describedby") or "").split()
    ui.shot(page, "paste-cut")
    bio.press("Backspace")
    expect(note).to_have_count(0)

    # An ordinary picture is not a character card.
    ui.allow_console(r"Failed to load resource: the server responded with a status of 422")
    picture = io.BytesIO()
    Image.new("RGB", (48, 48), (40, 140, 90)).save(picture, format="PNG")
    page.goto("/#/new")
    form = page.get_by_role("form", name="Import a character card")
    form.locator("#card-file").set_input_files(
        {"name": "holiday.png", "mimeType": "image/png", "buffer": picture.getvalue()}
    )
    expect(form.get_by_role("alert")).to_contain_text("This image has no character card inside.")
    ui.shot(page, "not-a-card")

    # The reset page names the line the standalone stack really prints.
    page.goto("/#/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/#/reset")
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_role("button", name="Email me a reset code").click()
    expect(page.locator("#dev-code-hint")).to_contain_text(
        "[DEV] password reset code created — use this code to reset your password code=…"
    )
    ui.shot(page, "reset-hint")


@pytest.mark.parametrize("size", SIZES)
def test_the_api_reference_renders_and_tries_a_request(ui: Browsing, size: str) -> None:
    width, height = SIZES[size]
    page = ui.page(width=width, height=height)
    elsewhere: list[str] = []
    own = (ui.stack.url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(own) else elsewhere.append(r.url))
    with httpx.Client(base_url=ui.stack.url, timeout=30) as http:
        pair = sign_up_by_api(http, ui.stack, new_email("scalar"), f"Reader{size.title()}")
    token = pair["access_token"]

    page.goto("/docs")
    expect(page.get_by_role("heading", name="Persona Community API").first).to_be_visible()
    expect(page.get_by_role("heading", name="Authenticate")).to_be_visible()
    expect(page.get_by_text("Authorization: Bearer <access_token>").first).to_be_visible()
    viewport_shot(ui, page, f"{size}-docs")

    # Try it: the token in the Authentication box, then GET /auth/me from its "Test Request".
    page.get_by_label("Bearer Token").first.fill(token)
    page.goto("/docs#tag/auth/GET/auth/me")
    page.locator("button").filter(has_text=re.compile(r"^Test Request\(get /auth/me\)$")).click()
    page.get_by_role("button", name=re.compile(r"^Send get request to")).first.click()
    expect(page.get_by_text("200 OK").first).to_be_visible()
    expect(page.get_by_text(f'"Reader{size.title()}"').first).to_be_visible()
    viewport_shot(ui, page, f"{size}-docs-try-it")
    assert not elsewhere, elsewhere

    icon = page.request.get("/favicon.ico", max_redirects=0)
    assert icon.status == 301 and icon.headers["location"] == "/favicon.svg"
    assert page.request.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
