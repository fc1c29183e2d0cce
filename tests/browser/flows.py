"""What a person does again and again in the UI, as helpers: sign up, create a persona."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.stack import DevStack

PASSWORD = "correct horse battery"
# Nothing wider than the window: a phone never scrolls a page sideways.
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def new_email(name: str) -> str:
    return f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"


def sign_up_with_password(page: Page, name: str) -> str:
    """Create account, then the code the stack "mailed" (its terminal's `[DEV]` line)."""
    email = new_email(name)
    page.goto("/#/signup")
    page.get_by_role("tab", name="Password").click()
    form = page.get_by_role("form", name="Sign up with a password")
    form.get_by_label("Display name", exact=True).fill(name)
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    mark = DevStack.serving(page.url).mark()
    form.get_by_role("button", name="Create account").click()
    enter_sign_up_code(page, email, mark)
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()
    return email


def enter_sign_up_code(page: Page, email: str, mark: int) -> None:
    """The step after "Create account": the code the stack printed after `mark`."""
    form = page.get_by_role("form", name="Sign up with a password")
    expect(form.get_by_role("status")).to_contain_text(f"We sent a code to {email}")
    form.get_by_label("6-digit code", exact=True).fill(DevStack.serving(page.url).auth_code(after=mark))
    form.get_by_role("button", name="Finish sign-up").click()


def sign_up_by_api(http: httpx.Client, stack: DevStack, email: str, name: str = "") -> dict[str, Any]:
    """`POST /auth/register`, then the emailed code: the token pair."""
    body = {"email": email, "password": PASSWORD, **({"display_name": name} if name else {})}
    mark = stack.mark()
    r = http.post("/auth/register", json=body)
    assert r.status_code == 202, r.text
    r = http.post(
        "/auth/code/verify", json={"email": email, "code": stack.auth_code(after=mark), "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    pair: dict[str, Any] = r.json()["data"]
    return pair


def fill_sign_in(page: Page, email: str) -> None:
    """Submit the password sign-in form of the page shown (after which it goes where it was asked)."""
    form = page.get_by_role("form", name="Sign in with a password")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()


def sign_in_with_password(page: Page, email: str) -> None:
    page.goto("/#/signin")
    fill_sign_in(page, email)
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()


def revoke_the_other_session(page: Page) -> None:
    """On the Account page: revoke the one session that is not this device's."""
    page.goto("/#/account")
    rows = page.locator("table.sessions tbody tr")
    expect(rows).to_have_count(2)
    rows.filter(has_not_text="this device").get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(rows).to_have_count(1)


def sign_up_with_code(page: Page, stack: DevStack, name: str) -> str:
    """The emailed-code flow, reading the code where a developer would: the launcher's output."""
    email = new_email(name)
    page.goto("/#/signup")
    form = page.get_by_role("form", name="Sign up with an emailed code")
    form.get_by_label("Email", exact=True).fill(email)
    mark = stack.mark()
    form.get_by_role("button", name="Email me a code").click()
    expect(form.get_by_text("[DEV] auth code created")).to_be_visible()
    code = stack.auth_code(after=mark)
    form.get_by_label("6-digit code", exact=True).fill(code)
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()
    return email


def create_persona(page: Page, name: str, *, tags: str = "test, friendly", visibility: str = "public") -> str:
    """Fill the blank form and save; returns the new persona's id (from the address)."""
    page.goto("/#/new")
    form = page.get_by_role("form", name="Persona")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Tagline", exact=True).fill(f"{name} keeps every story")
    form.get_by_label("Description", exact=True).fill(
        f"{name} is a retired lighthouse keeper who collects storm stories."
    )
    form.get_by_label("Tags", exact=True).fill(tags)
    form.get_by_label("Visibility", exact=True).select_option(visibility)
    form.get_by_label("Personality", exact=True).fill("patient, dry humour, superstitious about gulls")
    form.get_by_label("Scenario", exact=True).fill("A stormy night in the lighthouse kitchen.")
    form.get_by_label("Greeting", exact=True).fill(
        "*{{char}} sets down the kettle.* Another storm, {{user}}. Sit."
    )
    form.get_by_role("button", name="Add an alternate greeting").click()
    form.get_by_label("Alternate greeting 1", exact=True).fill(
        "*The lamp turns overhead.* You came back, {{user}}."
    )
    form.get_by_label("Example dialogues", exact=True).fill(
        "<START>\n{{user}}: Any ships tonight?\n{{char}}: Only ghosts."
    )
    form.get_by_role("button", name="Create persona").click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    return page.url.rsplit("/", 1)[-1]


def open_chat(page: Page, persona: str) -> None:
    page.get_by_role("button", name=f"Chat with {persona}").click()
    expect(page.get_by_role("heading", name=persona, exact=True)).to_be_visible()
    # The greeting is the first message.
    expect(page.locator("li.message.assistant").first).to_contain_text("sets down the kettle")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")


def starters_ready(stack: DevStack) -> None:
    """Seeded, and their avatars processed: what a visitor a minute after install sees."""
    stack.wait_for(r"starter personas seeded", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        shown = httpx.get(f"{stack.url}/personas", params={"sort": "top", "limit": 6}).json()["data"]
        if len(shown) == 6 and all(p["avatar_url"] for p in shown):
            return
        time.sleep(0.5)
    raise AssertionError(f"the starters' avatars were not ready: {shown}")
