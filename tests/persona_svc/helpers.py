"""Personas, cards and chats made through the API, shared by the persona_svc tests."""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import nats
from nats.js import JetStreamContext
from PIL import Image, PngImagePlugin

from tests.persona_svc.conftest import Site
from tests.support.poll import eventually
from tests.support.sse import stored_events
from tests.support.users import User


def persona_body(name: str = "Captain Mara Vell", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "tagline": "Retired lighthouse keeper",
        "description": "{{char}} kept the Saltmarsh light for forty years.",
        "personality": "gruff, kind, superstitious about gulls",
        "scenario": "{{user}} shelters from a storm in the lighthouse.",
        "greeting": "*Mara squints at {{user}}.* Shut the door, the wind bites.",
        "alternate_greetings": ["*Mara pours tea.* Storm's coming, {{user}}."],
        "example_dialogues": "<START>\n{{user}}: Hello\n{{char}}: Hmph. Hello yourself.",
        "tags": ["Maritime", "cozy"],
        "visibility": "public",
    }
    body.update(fields)
    return body


LOREBOOK: dict[str, Any] = {
    "name": "Saltmarsh",
    "scan_depth": 3,
    "token_budget": 500,
    "recursive_scanning": False,
    "extensions": {"risu_fullWordMatching": True},
    "entries": [
        {
            "keys": ["gull", "gulls"],
            "content": "Mara believes gulls carry the souls of drowned sailors.",
            "extensions": {"position": 0, "probability": 100},
            "enabled": True,
            "insertion_order": 10,
            "case_sensitive": False,
            "name": "gulls",
            "priority": 5,
            "id": 1,
            "comment": "superstition",
            "selective": False,
            "secondary_keys": [],
            "constant": False,
            "position": "before_char",
        }
    ],
}


async def create(http: httpx.AsyncClient, user: User, **fields: Any) -> dict[str, Any]:
    r = await http.post("/personas", json=persona_body(**fields), headers=user.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def error_field(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error", "meta"}, body
    field: str = body["error"]["details"].get("field", "")
    return field


async def user_events(site: Site, user_id: str) -> list[dict[str, Any]]:
    nc = await nats.connect(site.settings.nats_url)
    try:
        return await stored_events(nc.jetstream(), f"events.user.{user_id}")
    finally:
        await nc.close()


@asynccontextmanager
async def jetstream(site: Site) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(site.settings.nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def start_chat(site: Site, user: User, persona_id: str) -> dict[str, Any]:
    r = await site.http.post(f"/personas/{persona_id}/conversations", headers=user.headers)
    assert r.status_code == 201, r.text
    started: dict[str, Any] = r.json()["data"]
    return started


async def messages(site: Site, user: User, conversation_id: str) -> list[dict[str, Any]]:
    r = await site.http.get(f"/conversations/{conversation_id}/messages", headers=user.headers)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["data"]
    return found


async def wait_reply(
    site: Site, user: User, conversation_id: str, reply_id: str, status: str = "done"
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def stored() -> bool:
        for m in await messages(site, user, conversation_id):
            if m["id"] == reply_id and m["status"] == status:
                found.update(m)
                return True
        return False

    await eventually(stored)
    return found


async def send(site: Site, user: User, conversation_id: str, content: str) -> dict[str, Any]:
    r = await site.http.post(
        f"/conversations/{conversation_id}/messages", json={"content": content}, headers=user.headers
    )
    assert r.status_code == 202, r.text
    turn: dict[str, Any] = r.json()["data"]
    return turn


def v2_card() -> dict[str, Any]:
    data = {
        "name": "Captain Mara Vell",
        "description": "{{char}} kept the Saltmarsh light for forty years.",
        "personality": "gruff, kind, superstitious",
        "scenario": "{{user}} shelters from a storm in the lighthouse.",
        "first_mes": "*Mara squints at {{user}}.* Shut the door.",
        "mes_example": "<START>\n{{user}}: Hello\n{{char}}: Hmph.",
        "creator_notes": "Best with a slow, moody model. SECRET-NOTE-7781",
        "system_prompt": "{{original}} Write like a sea shanty.",
        "post_history_instructions": "Keep replies under 120 words.",
        "alternate_greetings": ["*Mara pours tea.* Storm's coming."],
        "character_book": copy.deepcopy(LOREBOOK),
        "tags": ["Maritime", "cozy"],
        "creator": "ferry_tales",
        "character_version": "1.2",
        "extensions": {
            "talkativeness": "0.5",
            "fav": False,
            "world": "Saltmarsh",
            "depth_prompt": {"prompt": "Mara hums.", "depth": 4, "role": "system"},
            "chub": {"full_path": "ferry_tales/mara", "id": 123456},
        },
    }
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def png_card(texts: dict[str, dict[str, Any]], size: tuple[int, int] = (64, 96)) -> bytes:
    """An image with each card base64-encoded in a tEXt chunk, written by Pillow."""
    info = PngImagePlugin.PngInfo()
    for keyword, card in texts.items():
        info.add_text(keyword, base64.b64encode(json.dumps(card).encode()).decode())
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()
