"""Rooms for tests: the mesh that serves them (auth_svc, persona_svc, the worker, a gateway) and
the few calls every room test makes, all through the gateway's public API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from generation_worker.app import create_app as create_worker
from persona_svc.app import create_app as create_persona
from tests.support.mesh import Mesh, RunningServer, client
from tests.support.sse import SseEvent, SseStream, events_gateway
from tests.support.users import User, sign_up

MARA = {
    "name": "Mara Vell",
    "description": "A retired lighthouse keeper who collects storm stories.",
    "personality": "gruff, kind, superstitious about gulls",
    "greeting": "*Mara squints at you.* Shut the door, the wind bites.",
    "visibility": "public",
}
OTTO = {
    "name": "Otto Brenner",
    "description": "A cheerful ferry pilot who has never missed a crossing.",
    "personality": "chatty, optimistic, loves bad puns",
    "greeting": "All aboard!",
    "visibility": "public",
}


@dataclass
class RoomSite:
    gateway: RunningServer
    http: httpx.AsyncClient

    async def user(self, name: str) -> User:
        return await sign_up(self.http, name)

    async def persona(self, owner: User, body: dict[str, Any]) -> str:
        r = await self.http.post("/personas", json=body, headers=owner.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["id"])

    async def room(self, owner: User, persona_ids: list[str], **extra: Any) -> dict[str, Any]:
        body = {"title": "The harbour", "persona_ids": persona_ids, **extra}
        r = await self.http.post("/rooms", json=body, headers=owner.headers)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"]["room"])

    async def invite(self, owner: User, room_id: str, **extra: Any) -> str:
        r = await self.http.post(f"/rooms/{room_id}/invites", json=extra, headers=owner.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["code"])

    async def join(self, user: User, code: str) -> httpx.Response:
        return await self.http.post("/rooms/join", json={"code": code}, headers=user.headers)

    async def say(self, user: User, room_id: str, content: str, **extra: Any) -> dict[str, Any]:
        r = await self.http.post(
            f"/rooms/{room_id}/messages", json={"content": content, **extra}, headers=user.headers
        )
        assert r.status_code == 202, r.text
        return dict(r.json()["data"])


async def room_site(
    stack: Mesh, token_delay: float = 0.005, **overrides: Any
) -> tuple[RoomSite, httpx.AsyncClient]:
    settings = msgspec.structs.replace(stack.settings, offline_token_delay=token_delay, **overrides)
    gw = await events_gateway(stack, settings)
    await stack.app(create_persona(settings))
    await stack.app(create_worker(settings))
    http = client(gw.url)
    return RoomSite(gw, http), http


async def next_on(stream: SseStream, channel: str, *names: str, timeout: float = 30.0) -> SseEvent:
    """The next event named one of `names` on `channel` (others are skipped)."""
    while True:
        event = await stream.next(timeout)
        data = event.data if isinstance(event.data, dict) else {}
        if event.event in names and data.get("channel", channel) == channel:
            return event
