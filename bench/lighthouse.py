"""`python -m bench lighthouse`: the web UI's bytes and speed as a phone sees them.

Lighthouse (npm, installed on first use into ~/.cache/persona-community/lighthouse) on the mobile
preset with applied throttling (`--throttling-method=devtools`) against a `make dev` stack
(offline text, starter personas seeded), over plain HTTP/1.1 and over HTTPS with HTTP/2 (as
deployed): the performance score, LCP and the bytes of a cold load
before images for the landing page, Explore and a persona page; then, in Chromium driven by
Playwright, how many static files a warm reload asks the server for (a 304 counts)."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from bench.report import machine, write_section
from tests.browser.stack import DevStack
from tests.support.tls import self_signed, spki_pin

VERSION = "12.8"
CACHE = Path(os.environ.get("LIGHTHOUSE_DIR", Path.home() / ".cache" / "persona-community" / "lighthouse"))
CHROMIUM = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
RUNS = int(os.environ.get("LIGHTHOUSE_RUNS", "3"))  # the median of runs: Lighthouse's scores vary
STATIC = re.compile(r"/(?:js|css|vendor)/|/favicon\.")
NOT_BEFORE_IMAGES = {"Image", "Media"}
HEAD = (
    "| page | performance (runs) | accessibility | FCP | LCP | bytes before images | requests "
    "| static files, cold | static files asked on a warm reload |\n|---|---|---|---|---|---|---|---|---|"
)


def lighthouse() -> Path:
    cli = CACHE / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("bench lighthouse needs Node.js and npm (Debian: apt-get install nodejs npm)")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", f"lighthouse@{VERSION}"],
            check=True,
        )
    return cli


def audit(cli: Path, url: str, out: Path, trust: str = "") -> dict[str, Any]:
    """`trust`: a Chromium flag that trusts the bench's self-signed certificate, if any."""
    subprocess.run(
        [
            "node",
            str(cli),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            "--only-categories=performance,accessibility",
            "--form-factor=mobile",
            "--throttling-method=devtools",
            f"--chrome-flags=--headless=new --no-sandbox --disable-gpu {trust}".strip(),
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        timeout=300,
    )
    report: dict[str, Any] = json.loads(out.read_text())
    if keep := os.environ.get("LIGHTHOUSE_KEEP"):  # a folder for the full reports, to read why
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(
            out, Path(keep) / f"{re.sub(r'[^A-Za-z0-9]+', '_', url.split('/', 3)[-1]) or 'root'}.json"
        )
    audits = report["audits"]
    requests = audits["network-requests"]["details"]["items"]
    kinds: dict[str, int] = {}
    for r in requests:
        kinds[r.get("resourceType", "?")] = kinds.get(r.get("resourceType", "?"), 0) + r.get(
            "transferSize", 0
        )
    print(f"  {url}: bytes by type {kinds}", flush=True)
    return {
        "score": round(report["categories"]["performance"]["score"] * 100),
        "a11y": round(report["categories"]["accessibility"]["score"] * 100),
        "lcp": audits["largest-contentful-paint"]["numericValue"] / 1000,
        "fcp": audits["first-contentful-paint"]["numericValue"] / 1000,
        "bytes": sum(
            r.get("transferSize", 0) for r in requests if r.get("resourceType") not in NOT_BEFORE_IMAGES
        ),
        "requests": len(requests),
    }


def warm_reload(url: str, trust: str = "") -> tuple[int, int]:
    """(static requests of a cold load, static requests that reach the server on a reload)."""
    with sync_playwright() as playwright:
        args = ["--headless", "--no-sandbox", *([trust] if trust else [])]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        cdp = page.context.new_cdp_session(page)
        urls: dict[str, str] = {}
        served: list[tuple[str, bool]] = []
        cached: set[str] = set()
        cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
        cdp.on(
            "Network.responseReceived",
            lambda e: served.append((e["requestId"], bool(e["response"].get("fromDiskCache")))),
        )
        cdp.send("Network.enable")

        def from_server() -> int:
            return sum(
                1
                for rid, disk in served
                if not disk and rid not in cached and STATIC.search(urls.get(rid, ""))
            )

        page.goto(url, wait_until="networkidle")
        cold = from_server()
        served.clear()
        page.reload(wait_until="networkidle")
        warm = from_server()
        browser.close()
    return cold, warm


def persona_id(base: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/personas", params={"sort": "top", "limit": 6}, verify=False)
        items = answer.json()["data"]
        if len(items) == 6 and all(p["avatar_url"] for p in items):
            return str(items[0]["id"])
        time.sleep(0.5)
    raise SystemExit("the starter personas were not seeded in time")


# How the gateway is reached: as `make dev` serves it, and as deployed (TLS, so browsers speak
# HTTP/2: every file on one connection instead of six at a time).
TRANSPORTS = ("HTTP/1.1 (`make dev`)", "HTTPS with HTTP/2 (as deployed)")


def measure(cli: Path, folder: Path, transport: str) -> list[str]:
    env = {"SEED_STARTERS": "true"}
    trust = ""
    if "HTTPS" in transport:
        cert, key = self_signed(folder)
        env.update(TLS_CERT=str(cert), TLS_KEY=str(key))
        # Trusted, not merely let through: past a certificate error Chromium caches nothing.
        trust = f"--ignore-certificate-errors-spki-list={spki_pin(cert)}"
    stack = DevStack(folder / "data", env).start()
    try:
        pages = {
            "landing `/`": f"{stack.url}/",
            "Explore `#/explore`": f"{stack.url}/#/explore",
            "persona `#/p/<id>`": f"{stack.url}/#/p/{persona_id(stack.url)}",
        }
        rows = []
        for name, url in pages.items():
            runs = [audit(cli, url, folder / f"run{i}.json", trust) for i in range(RUNS)]
            cold, warm = warm_reload(url, trust)
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            scores = "/".join(str(r["score"]) for r in runs)
            print(f"{transport} {name}: {median} scores {scores}; static requests cold {cold}, warm {warm}")
            cells = [
                name,
                f"{median['score']:.0f} ({scores})",
                f"{min(r['a11y'] for r in runs)}",
                f"{median['fcp']:.2f} s",
                f"{median['lcp']:.2f} s",
                f"{median['bytes'] / 1024:.1f} KiB",
                f"{median['requests']:.0f}",
                str(cold),
                str(warm),
            ]
            rows.append("| " + " | ".join(cells) + " |")
    finally:
        stack.stop()
    return rows


def main() -> None:
    cli = lighthouse()
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, transport in enumerate(TRANSPORTS):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            rows = measure(cli, folder, transport)
            tables.append(f"{transport}:\n\n{HEAD}\n" + "\n".join(rows))
    version = json.loads((cli.parents[1] / "package.json").read_text())["version"]
    body = "\n\n".join(tables)
    write_section(
        "lighthouse",
        f"""
## The web UI's bytes (`python -m bench lighthouse`)

Lighthouse {version}, mobile preset, applied throttling (`--throttling-method=devtools`), Chromium
`{CHROMIUM}`, against `python -m chassis.devstack` (offline text, starters seeded): over plain
HTTP/1.1 as `make dev` serves it, and over HTTPS (the gateway's own TLS with a self-signed
certificate that Chromium is told to trust) where Chromium speaks HTTP/2, as a deployment is
reached. The median of {RUNS} cold loads per page. "Bytes before images": transfer sizes of every
request but images and video. Warm reload: Chromium (Playwright) loads the page, reloads it, and
counts the static files (`/js/`, `/css/`, `/vendor/`, the icon; not the page itself) that reached
the server, 304s included.

{body}

Machine: {machine()}.
""",
    )


if __name__ == "__main__":
    main()
