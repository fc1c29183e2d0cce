"""Browser tests: a real headless Chromium (Playwright, the system's Chromium) against a dev
stack started once per test module. Every page fails its test on a console error or an
uncaught exception; every test leaves screenshots in its `tmp_path`, or, with SCREENSHOTS_DIR set
(CI sets it), in a folder of that directory named after the test, kept as the run's artifacts."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect, sync_playwright

from tests.browser.stack import DevStack

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM_PATH"),
        shutil.which("chromium"),
        "/usr/bin/chromium",
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "no Chromium found (install Debian's `chromium` or set CHROMIUM_PATH): browser tests skipped"
        )
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def dev_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """The whole stack as `make dev` runs it; a module may set `STACK_ENV` (e.g. a slower
    offline text provider, so a reply can be stopped mid-stream)."""
    if chromium_path() is None:
        pytest.skip("no Chromium found: browser tests skipped")
    env: dict[str, str] = getattr(request.module, "STACK_ENV", {})
    stack = DevStack(tmp_path_factory.mktemp("stack") / "data", env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


class Browsing:
    """Pages of one test: each in its own browser context (its own storage, so a second context
    is a second person), watched for console errors."""

    def __init__(self, browser: Browser, stack: DevStack, out: Path) -> None:
        self.browser = browser
        self.stack = stack
        self.out = out
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        self.contexts: list[BrowserContext] = []
        self.shots = 0

    def page(self, *, width: int = 1280, height: int = 900, dark: bool = False) -> Page:
        context = self.browser.new_context(
            base_url=self.stack.url,
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        name = f"page{len(self.contexts)}"
        page.on("console", lambda message: self._console(name, message))
        page.on("pageerror", lambda error: self.errors.append(f"{name} uncaught: {error}"))
        return page

    def _console(self, name: str, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = f"{name} console error: {message.text} ({message.location.get('url', '')})"
        if not any(rx.search(text) for rx in self.allowed):
            self.errors.append(text)

    def allow_console(self, pattern: str) -> None:
        """A console error this test provokes on purpose (e.g. the server going away)."""
        self.allowed.append(re.compile(pattern))

    def shot(self, page: Page, name: str) -> Path:
        self.shots += 1
        path = self.out / f"{self.shots:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def assert_labelled(self, page: Page) -> None:
        """Every form control on the page has an accessible name (a label or an aria label)."""
        unlabelled: list[str] = page.evaluate(
            """() => [...document.querySelectorAll("input, select, textarea")]
                .filter((c) => c.type !== "hidden")
                .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                    && !c.getAttribute("aria-labelledby"))
                .map((c) => c.outerHTML)"""
        )
        assert not unlabelled, f"controls without a label: {unlabelled}"

    def close(self) -> None:
        for context in self.contexts:
            try:
                context.close()
            except Error:
                pass


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
        item.stash[RAN] = not report.skipped
    return report


FAILED = pytest.StashKey[bool]()
RAN = pytest.StashKey[bool]()


def shots_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = os.environ.get("SCREENSHOTS_DIR")
    if not root:
        return tmp_path
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.removeprefix("tests/browser/"))
    folder = Path(root) / name
    shutil.rmtree(folder, ignore_errors=True)  # a re-run's pictures replace the last run's
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def ui(
    request: pytest.FixtureRequest, browser: Browser, dev_stack: DevStack, tmp_path: Path
) -> Iterator[Browsing]:
    session = Browsing(browser, dev_stack, shots_dir(request, tmp_path))
    try:
        yield session
        if request.node.stash.get(FAILED, False):
            # What the pages looked like when the test failed.
            for context in session.contexts:
                for page in context.pages:
                    session.shot(page, "failure")
    finally:
        session.close()
    if not request.node.stash.get(RAN, False):
        return  # skipped: nothing was shown
    assert session.shots > 0, "each browser test saves at least one screenshot"
    assert not session.errors, "console errors:\n" + "\n".join(session.errors)
