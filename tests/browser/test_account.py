"""Signing in with a magic link read from the launcher's output (and what a used or cut link
says), and an account made without a password setting its first one, as a person does it in
Chromium."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Browsing
from tests.browser.flows import PASSWORD, new_email, sign_up_with_code

MAGIC_LINE = r"\[DEV\] magic link created — open this link to log in link=(\S+)"


def test_the_logged_magic_link_opens_the_ui_and_signs_in(ui: Browsing) -> None:
    page = ui.page()
    email = new_email("Linky")
    page.goto("/#/signin")
    page.get_by_role("tab", name="Email code").click()
    form = page.get_by_role("form", name="Sign in with an emailed code")
    form.get_by_label("Email", exact=True).fill(email)
    mark = ui.stack.mark()
    form.get_by_role("button", name="Email me a sign-in link instead").click()
    expect(page.locator(".toast", has_text="a sign-in link is on its way")).to_be_visible()
    link = ui.stack.wait_for(MAGIC_LINE, after=mark).group(1)
    # The default link (no MAGIC_LINK_URL) is the web UI's landing page on PUBLIC_URL.
    assert link.startswith(f"http://localhost:{ui.stack.port}/#/magic?token="), link
    ui.shot(page, "link-sent")

    # Opened from the mail, in a browser with nobody signed in: it signs in and the token leaves
    # the address bar.
    mail = ui.page()
    mail.goto(link)
    expect(mail.get_by_role("heading", name="Explore personas")).to_be_visible()
    assert "token=" not in mail.url, mail.url
    mail.get_by_role("link", name="Account").click()
    expect(mail.get_by_text(f"Signed in as {email}")).to_be_visible()
    ui.shot(mail, "signed-in-by-link")

    # A link works once.
    ui.allow_console(r"Failed to load resource: the server responded with a status of 401")
    again = ui.page()
    again.goto(link)
    expect(again.get_by_role("heading", name="This link did not sign you in")).to_be_visible()
    expect(again.locator("main").get_by_role("status")).to_contain_text(
        "This sign-in link has already been used or has expired: each link works once"
    )
    # What to do next is right there: a new link, or the other ways in.
    expect(again.get_by_role("form", name="Ask for a new sign-in link")).to_be_visible()
    expect(again.get_by_role("link", name="Back to sign in")).to_be_visible()
    ui.shot(again, "link-used")
    ui.assert_labelled(again)

    # A link cut short while copying (no token) says so, without asking the server.
    cut = ui.page(width=390, height=844)
    cut.goto("/#/magic")
    expect(cut.locator("main").get_by_role("status")).to_contain_text(
        "This address is missing its sign-in code"
    )
    ui.shot(cut, "link-cut")


def test_an_account_made_with_a_code_sets_its_first_password(ui: Browsing) -> None:
    page = ui.page()
    email = sign_up_with_code(page, ui.stack, "Codey")
    page.goto("/#/account")
    expect(page.get_by_role("heading", name="Set a password")).to_be_visible()
    form = page.get_by_role("form", name="Set a password")
    # No current password to give: the account has none.
    expect(form.get_by_label("Current password")).to_have_count(0)
    ui.shot(page, "set-a-password")
    ui.assert_labelled(page)

    ui.allow_console(r"Failed to load resource: the server responded with a status of 422")
    form.get_by_label("New password", exact=True).fill("short")
    form.get_by_role("button", name="Set password").click()
    expect(form.locator('[data-field="password"] .field-error')).to_contain_text("at least 8 bytes")

    form.get_by_label("New password", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Set password").click()
    expect(page.locator(".toast", has_text="Password set")).to_be_visible()
    # From now on it is changed like any password: the current one is asked for.
    change = page.get_by_role("form", name="Change your password")
    expect(change.get_by_label("Current password", exact=True)).to_be_visible()
    ui.shot(page, "password-set")

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    signin = page.get_by_role("form", name="Sign in with a password")
    signin.get_by_label("Email", exact=True).fill(email)
    signin.get_by_label("Password", exact=True).fill(PASSWORD)
    signin.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()
    page.goto("/#/account")
    expect(page.get_by_role("form", name="Change your password")).to_be_visible()
