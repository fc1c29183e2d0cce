"""In Chromium: the refresh token is an HttpOnly cookie the page's script never holds (a reload
restores the session from it), and the UI and /docs work under their Content-Security-Policy."""

from __future__ import annotations

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import PASSWORD, create_persona, new_email, open_chat, sign_up_with_password

# Every script-reachable place a token could hide, as one string.
SCRIPT_STORAGE = """() => JSON.stringify({
    local: Object.fromEntries(Object.entries(localStorage)),
    session: Object.fromEntries(Object.entries(sessionStorage)),
    cookie: document.cookie,
})"""
CSP_RECORDER = """document.addEventListener("securitypolicyviolation", (e) => {
    const where = `${e.sourceFile}:${e.lineNumber}`;
    (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});"""


def refresh_cookie(context: BrowserContext) -> dict[str, object] | None:
    found = [dict(c) for c in context.cookies() if c["name"] == "auth_refresh"]
    return found[0] if found else None


def expect_signed_in(page: Page) -> None:
    expect(page.get_by_role("link", name="Account")).to_be_visible()
    expect(page.locator("#visitor-signin")).to_be_hidden()


def test_the_session_lives_in_an_httponly_cookie_and_survives_a_reload(ui: Browsing) -> None:
    page = ui.page()
    sign_up_with_password(page, "Crumb")
    cookie = refresh_cookie(page.context)
    assert cookie is not None, page.context.cookies()
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/auth/refresh" and str(cookie["value"]).startswith("rt_")
    stored = page.evaluate(SCRIPT_STORAGE)
    assert "rt_" not in stored and str(cookie["value"]) not in stored, stored

    # A reload (the access token was only in memory) restores the session from the cookie.
    page.reload()
    expect_signed_in(page)
    rotated = refresh_cookie(page.context)
    assert rotated is not None and rotated["value"] != cookie["value"]
    assert "rt_" not in page.evaluate(SCRIPT_STORAGE)
    # A second tab of the same browser is signed in too, and the first keeps working.
    other = page.context.new_page()
    other.goto("/#/account")
    expect_signed_in(other)
    # Both tabs reload at once: one cookie, refreshes serialised by the Web Lock, both signed in.
    page.reload(wait_until="commit")
    other.reload(wait_until="commit")
    expect_signed_in(page)
    expect_signed_in(other)
    expect(other.get_by_text("Signed in as")).to_be_visible()
    page.goto("/#/account")
    expect(page.get_by_text("Signed in as")).to_be_visible()
    ui.shot(page, "reloaded-signed-in")

    # Signing out deletes the cookie; a reload stays signed out.
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator("#visitor-signin")).to_be_visible()
    assert refresh_cookie(page.context) is None
    page.reload()
    expect(page.locator("#visitor-signin")).to_be_visible()
    ui.shot(page, "signed-out")


def test_a_refresh_token_left_by_an_older_version_becomes_the_cookie(ui: Browsing) -> None:
    email = new_email("Oldtab")
    with httpx.Client(base_url=ui.stack.url) as http:
        r = http.post("/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Oldtab"})
        assert r.status_code == 201, r.text
        old = r.json()["data"]["refresh_token"]
    page = ui.page()
    page.goto("/")
    page.evaluate("(token) => localStorage.setItem('persona.refresh_token', token)", old)
    page.reload()
    expect_signed_in(page)
    assert page.evaluate("() => localStorage.getItem('persona.refresh_token')") is None
    assert refresh_cookie(page.context) is not None
    ui.shot(page, "migrated")


def test_the_ui_and_docs_work_under_their_content_security_policy(ui: Browsing) -> None:
    page = ui.page()
    page.context.add_init_script(CSP_RECORDER)
    visits: list[str] = []

    def check(name: str) -> None:
        violations = page.evaluate("() => window.__csp || []")
        assert not violations, f"{name}: {violations}"
        visits.append(name)

    page.goto("/")
    expect(page.locator("#hero-title")).to_be_visible()
    check("landing")
    page.goto("/#/explore")
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()
    check("explore")
    sign_up_with_password(page, "Policy")
    create_persona(page, "Keeper Csp")
    check("persona page")
    open_chat(page, "Keeper Csp")
    page.locator("#chat-input").fill("Any ships tonight?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("li.message.assistant").last).to_have_attribute("data-status", "done")
    check("chat")
    page.goto("/#/account")
    expect(page.get_by_text("Signed in as")).to_be_visible()
    check("account")
    ui.shot(page, "account-under-csp")

    docs = ui.page()
    docs.context.add_init_script(CSP_RECORDER)
    docs.goto("/docs")
    # Scalar has rendered the merged description (its intro text is ours).
    expect(docs.get_by_text("Send one of two credentials").first).to_be_visible()
    violations = docs.evaluate("() => window.__csp || []")
    # Zod inside the bundle probes `Function("")` once, in a try, and works without it (its
    # "jitless" mode): /docs is not given 'unsafe-eval' for that probe.
    probe = [
        v for v in violations if v.startswith("script-src eval ") and "/vendor/scalar/standalone.js" in v
    ]
    assert len(probe) <= 1 and violations == probe, f"/docs: {violations}"
    ui.shot(docs, "docs-under-csp")
    assert visits == ["landing", "explore", "persona page", "chat", "account"]
