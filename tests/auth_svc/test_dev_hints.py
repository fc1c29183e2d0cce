"""The web UI tells developers which `[DEV]` line to look for: the lines auth_svc really prints."""

from __future__ import annotations

import re
from pathlib import Path

from auth_svc.notify import dev_line
from proto.auth import NotifyRequest, NotifyTemplate

AUTH_VIEW = Path(__file__).resolve().parents[2] / "web" / "js" / "views" / "auth.js"


def test_the_ui_names_the_printed_dev_lines() -> None:
    source = AUTH_VIEW.read_text(encoding="utf-8")
    shown = dict(re.findall(r'^\s+(code|link|reset): "(\[DEV\][^"]+)",$', source, re.M))
    assert set(shown) == {"code", "link", "reset"}, shown
    templates: dict[str, tuple[NotifyTemplate, str]] = {
        "code": ("auth_code", "code"),
        "link": ("magic_link", "link"),
        "reset": ("password_reset", "code"),
    }
    for key, (template, variable) in templates.items():
        message = NotifyRequest(
            to="ada@example.com", sender="x", template=template, subject="s", text="t", data={variable: "…"}
        )
        assert shown[key] == dev_line(message), (key, shown[key], dev_line(message))
