"""The README's screenshot: a chat with a starter persona answered by the embedded model, taken from
a real `make dev` with headless Chromium (Debian's `chromium`).

    .venv/bin/python scripts/screenshot_chat.py [docs/images/chat.png]

Starts `make dev` on free ports with its own data folder (nothing configured: the default model),
signs up in the browser, opens a starter persona, chats, waits for the streamed reply to finish,
saves the screenshot, and stops the stack with Ctrl-C as a developer would."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from chassis.children import stop
from chassis.devstack import free_port, free_range
from persona_svc.starters.catalog import starters

ROOT = Path(__file__).resolve().parents[1]
PERSONA = "ysolde-marrow"
MESSAGE = "Captain, what is the strangest thing you have seen at sea?"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "images" / "chat.png")
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not chromium:
        raise SystemExit("needs Debian's chromium (apt-get install chromium) or CHROMIUM_PATH")
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="persona-shot-"))
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL", "LLM_BASE_URL")}
    env.update(
        PORT=str(port), HEALTH_PORT_BASE=str(free_range(6)), NATS_PORT=str(free_port()), DATA_DIR=str(data)
    )
    stack = subprocess.Popen(
        ["make", "dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    assert stack.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(stack.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 900
        while not any("devstack | ready" in line for line in lines):
            if stack.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("make dev did not become ready:\n" + "".join(lines[-40:]))
            time.sleep(0.5)
        model = next((m.group(0) for line in lines if (m := re.search(r"model ready.*", line))), "")
        print(f"stack ready on :{port}; {model}", flush=True)
        shoot(f"http://127.0.0.1:{port}", chromium, out, lines)
        print(f"wrote {out}")
    finally:
        stop(stack, sig=signal.SIGINT, timeout=60, group=True)
        shutil.rmtree(data, ignore_errors=True)


def shoot(url: str, chromium: str, out: Path, lines: list[str]) -> None:
    """`lines`: make dev's output so far (the sign-up's code is printed there, as no mail is sent)."""
    starter = next(s for s in starters() if s.slug == PERSONA)
    name = starter.persona.name
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        page = browser.new_context(base_url=url, viewport={"width": 1366, "height": 860}).new_page()
        page.set_default_timeout(60_000)
        page.goto("/#/signup")
        page.get_by_role("tab", name="Password").click()
        form = page.get_by_role("form", name="Sign up with a password")
        form.get_by_label("Display name", exact=True).fill("Robin")
        form.get_by_label("Email", exact=True).fill(f"robin-{uuid.uuid4().hex[:6]}@example.com")
        form.get_by_label("Password", exact=True).fill("correct horse battery")
        seen = len(lines)
        form.get_by_role("button", name="Create account").click()
        form.get_by_label("6-digit code", exact=True).fill(dev_code(lines, seen))
        form.get_by_role("button", name="Finish sign-up").click()
        expect(page.get_by_role("heading", name="Explore personas")).to_be_visible()
        page.goto(f"/#/p/{starter.persona_id}")
        page.get_by_role("button", name=f"Chat with {name}").click()
        expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
        page.locator("#chat-input").fill(MESSAGE)
        page.get_by_role("button", name="Send", exact=True).click()
        # The greeting, then the reply: wait for the reply's own element before waiting for its end.
        expect(page.locator("li.message.assistant")).to_have_count(2)
        reply = page.locator("li.message.assistant").last
        expect(reply).to_have_attribute("data-status", "done", timeout=600_000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def dev_code(lines: list[str], after: int) -> str:
    """The code make dev printed after line `after` (`[DEV] auth code created … code=123456`)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in lines[after:]:
            if m := re.search(r"\[DEV\] auth code created.*code=(\d{6})", line):
                return m.group(1)
        time.sleep(0.2)
    raise SystemExit("make dev printed no sign-up code:\n" + "".join(lines[-20:]))


if __name__ == "__main__":
    main()
