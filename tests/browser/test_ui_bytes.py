"""The UI's bytes in a real browser: a warm reload asks the server for no static file but the page
itself, each page's module loads when its route opens, and every route still opens under the CSP
(the import map is allowed by its hash)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing
from tests.browser.flows import sign_up_with_password, starters_ready

STACK_ENV = {"SEED_STARTERS": "true"}
STATIC = re.compile(r"/(?:js|css|vendor)/|/favicon\.")


class Network:
    """What went to the server, as Chromium's DevTools protocol tells (Playwright's own request
    events also report answers from the memory cache)."""

    def __init__(self, page: Page) -> None:
        self.sent: list[str] = []
        self.cached: set[str] = set()
        self.urls: dict[str, str] = {}
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestServedFromCache", lambda e: self.cached.add(e["requestId"]))
        cdp.on("Network.responseReceived", self._received)
        cdp.send("Network.enable")
        self.received: list[tuple[str, bool]] = []

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]

    def _received(self, event: dict[str, Any]) -> None:
        response = event["response"]
        self.received.append((event["requestId"], bool(response.get("fromDiskCache"))))

    def from_server(self) -> list[str]:
        """URLs answered by the server (a 304 counts: it is a request), not by the cache."""
        return [self.urls.get(rid, "?") for rid, disk in self.received if not disk and rid not in self.cached]

    def clear(self) -> None:
        self.received.clear()
        self.cached.clear()


def test_a_warm_reload_asks_for_no_static_file_and_views_load_with_their_route(ui: Browsing) -> None:
    starters_ready(ui.stack)
    page = ui.page(width=390, height=844)
    network = Network(page)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Create AI characters, talk with them, share them."
    )
    # The personas are shown: their listing has been answered, so every request below is counted.
    expect(page.locator(".teaser-name").first).to_be_visible()
    cold = [u for u in network.from_server() if STATIC.search(u)]
    # The landing page's module came, the other pages' did not (they load when opened).
    assert any("/js/views/landing." in u for u in cold), cold
    assert not any("/js/views/editor." in u or "/js/views/chat." in u for u in cold), cold
    assert all(re.search(r"\.[0-9a-f]{12}\.(js|css|svg)$", u) for u in cold), cold
    # The six personas were asked for once: at boot, beside the module, and the view took that answer.
    listing = [u for u in network.from_server() if "/personas?" in u]
    assert len(listing) == 1 and "sort=top" in listing[0], listing
    # The last module, asked for once the page is drawn (app.js: limits.js), has arrived too: a
    # reload before that would fetch it for the first time, not again.
    page.wait_for_function(
        "() => performance.getEntriesByType('resource')"
        ".some(e => e.name.includes('/js/limits.') && e.responseEnd > 0)"
    )

    network.clear()
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Create AI characters, talk with them, share them."
    )
    warm = network.from_server()
    # Chromium's favicon loader keeps its own cache and now and then asks again whatever the
    # headers say (seen once in a loaded run); the page's own files must all come from the cache.
    assert [u for u in warm if STATIC.search(u) and "/favicon." not in u] == [], warm
    ui.shot(page, "landing-after-warm-reload")

    # Explore then opens with its own module, from the server once.
    network.clear()
    page.goto("/#/explore")
    expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()
    assert any("/js/views/explore." in u for u in network.from_server())


def test_every_route_opens(ui: Browsing) -> None:
    starters_ready(ui.stack)
    persona = httpx.get(f"{ui.stack.url}/personas", params={"sort": "top", "limit": 1}).json()["data"][0]
    page = ui.page()
    visitor = {
        "/": "Create AI characters, talk with them, share them.",
        "/welcome": "Create AI characters, talk with them, share them.",
        "/explore": "Explore personas",
        "/signin": "Sign in",
        "/signup": "Create your account",
        "/reset": "Reset your password",
        "/magic": "This link did not sign you in",
        f"/p/{persona['id']}": persona["name"],
        "/no/such/page": "Page not found",
    }
    if persona.get("owner_id"):
        visitor[f"/u/{persona['owner_id']}"] = persona.get("owner_name") or "Creator"
    for path, heading in visitor.items():
        page.goto(f"/#{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    ui.shot(page, "visitor-routes")

    sign_up_with_password(page, "Rover")
    member = {
        "/explore": "Explore personas",
        "/create": "Create a persona from an idea",
        "/new": "New persona",
        "/mine": "My personas",
        "/chats": "Chats",
        "/account": "Your account",
        "/settings": "Content settings",
    }
    for path, heading in member.items():
        page.goto(f"/#{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    ui.shot(page, "member-routes")
