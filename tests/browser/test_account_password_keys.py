"""Changing the password on the account page tells the user their API keys survive it, and
revokes all of them when they tick the box (Chromium, 1366×860)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import PASSWORD, sign_up_with_password


def create_key(page: Page, name: str) -> str:
    keys = page.get_by_role("region", name="API keys")
    form = keys.get_by_role("form", name="Create an API key")
    form.get_by_label("Key name", exact=True).fill(name)
    form.get_by_role("button", name="Create key").click()
    shown = keys.get_by_role("region", name=f"Your new key “{name}”")
    key = shown.get_by_label("API key", exact=True).input_value()
    shown.get_by_role("button", name="Done").click()
    expect(shown).to_have_count(0)
    return key


def change_password(page: Page, current: str, new: str) -> None:
    form = page.get_by_role("form", name="Change your password")
    form.get_by_label("Current password", exact=True).fill(current)
    form.get_by_label("New password", exact=True).fill(new)
    form.get_by_role("button", name="Change password").click()


def test_a_password_change_offers_to_revoke_every_api_key(ui: Browsing) -> None:
    page = ui.page(width=1366, height=860)
    sign_up_with_password(page, "Rotator")
    page.goto("/#/account")
    form = page.get_by_role("form", name="Change your password")
    revoke = form.get_by_role("checkbox", name=re.compile(r"Also revoke"))
    # No keys, nothing to offer.
    expect(page.get_by_role("region", name="API keys").get_by_text("No API keys yet.")).to_be_visible()
    expect(revoke).to_be_hidden()

    keys = [create_key(page, "backup script"), create_key(page, "ci bot")]
    form.get_by_label("Current password", exact=True).focus()  # the form counts the keys again
    expect(revoke).to_be_visible()
    expect(form.get_by_text("Also revoke all 2 API keys")).to_be_visible()
    expect(form.get_by_text("Unticked, your API keys keep working after the change.")).to_be_visible()
    expect(revoke).not_to_be_checked()
    ui.shot(page, "password-with-keys")
    ui.assert_labelled(page)

    # Left unticked: the keys keep working, and the toast says so.
    change_password(page, PASSWORD, "second password")
    expect(page.locator(".toast", has_text="2 API keys still work")).to_be_visible()
    for key in keys:
        assert page.request.get("/auth/me", headers={"x-api-key": key}).status == 200

    # Ticked: every key is revoked in the same step, the list empties, programs are refused.
    revoke.check()
    change_password(page, "second password", "third password")
    expect(page.locator(".toast", has_text="all 2 API keys revoked")).to_be_visible()
    expect(page.get_by_role("region", name="API keys").get_by_text("No API keys yet.")).to_be_visible()
    expect(revoke).to_be_hidden()
    for key in keys:
        refused = page.request.get("/auth/me", headers={"x-api-key": key})
        assert refused.status == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    ui.shot(page, "password-keys-revoked")
