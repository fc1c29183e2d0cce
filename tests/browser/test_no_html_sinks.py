"""The web UI builds its pages from nodes (web/js/dom.js), never by parsing strings as HTML: no
script of ours uses an HTML sink, so no user text can become markup (the CSP is the second wall)."""

from __future__ import annotations

import re
from pathlib import Path

WEB_JS = Path(__file__).resolve().parents[2] / "web" / "js"
SINKS = re.compile(
    r"\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML|document\.write(ln)?\s*\(|"
    r"createContextualFragment|parseFromString\s*\([^)]*text/html|\bsrcdoc\b"
)


def code_lines(text: str) -> list[tuple[int, str]]:
    """Lines without their `//` comments (the modules explain in comments that they avoid sinks)."""
    return [(n, re.sub(r"^\s*//.*|\s//.*$", "", line)) for n, line in enumerate(text.splitlines(), 1)]


def test_no_script_of_the_ui_parses_strings_as_html() -> None:
    scripts = sorted(WEB_JS.rglob("*.js"))
    assert len(scripts) > 10, scripts
    found = [
        f"{path.relative_to(WEB_JS)}:{n}: {line.strip()}"
        for path in scripts
        for n, line in code_lines(path.read_text(encoding="utf-8"))
        if SINKS.search(line)
    ]
    assert not found, "HTML sinks in web/js:\n" + "\n".join(found)


def test_the_check_finds_each_sink() -> None:
    for line in (
        "el.innerHTML = text;",
        "el.outerHTML += x",
        'el.insertAdjacentHTML("beforeend", x)',
        "document.write(x)",
        "range.createContextualFragment(x)",
        'new DOMParser().parseFromString(x, "text/html")',
    ):
        assert any(SINKS.search(code) for _, code in code_lines(line)), line
    assert not any(SINKS.search(code) for _, code in code_lines("// no innerHTML anywhere"))
