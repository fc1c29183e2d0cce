"""Conversation channels end to end: persona_svc decides who may follow `channel:<id>`, a chat turn
is streamed there by the worker, and the reply persona_svc stores is what was streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from generation_worker.app import create_app as create_worker
from persona_svc.app import create_app as create_persona
from tests.support.mesh import Mesh, RunningServer, client
from tests.support.sse import SseEvent, events_gateway, open_stream
from tests.support.users import User, sign_up

PERSONA = {
    "name": "Captain Mara Vell",
    "description": "A retired lighthouse keeper who collects storm stories.",
    "personality": "gruff, kind, superstitious about gulls",
    "greeting": "*Mara squints at you.* Shut the door, the wind bites.",
    "visibility": "public",
}


@dataclass
class Site:
    gateway: RunningServer
    http: httpx.AsyncClient

    async def conversation(self, user: User) -> str:
        r = await self.http.post("/personas", json=PERSONA, headers=user.headers)
        assert r.status_code == 201, r.text
        started = await self.http.post(
            f"/personas/{r.json()['data']['id']}/conversations", headers=user.headers
        )
        assert started.status_code == 201, started.text
        return str(started.json()["data"]["conversation"]["id"])


@pytest.fixture
async def site(stack: Mesh) -> AsyncIterator[Site]:
    settings = msgspec.structs.replace(stack.settings, offline_token_delay=0.005)
    gw = await events_gateway(stack, settings)
    await stack.app(create_persona(settings))
    await stack.app(create_worker(settings))
    async with client(gw.url) as http:
        yield Site(gw, http)


async def test_a_chat_turn_streams_on_the_conversation_channel_and_is_persisted(site: Site) -> None:
    user = await sign_up(site.http, "Sam")
    conversation = await site.conversation(user)
    channel = f"channel:{conversation}"
    ticket = (await site.http.post("/events/tickets", headers=user.headers)).json()["data"]["ticket"]
    async with open_stream(site.http, params={"ticket": ticket, "channels": channel}) as sse:
        turn = await site.http.post(
            f"/conversations/{conversation}/messages",
            json={"content": "Tell me about the worst storm you ever saw"},
            headers=user.headers,
        )
        assert turn.status_code == 202, turn.text
        events: list[SseEvent] = []
        while not events or events[-1].event != "ai_chat_done":
            event = await sse.next()
            if event.data["channel"] == channel:  # the same events also arrive on user:<id>
                events.append(event)
    job_id = turn.json()["data"]["job_id"]
    started, *chunks, done = events
    assert started.event == "ai_chat_started" and started.data["job_id"] == job_id
    assert [c.data["index"] for c in chunks] == list(range(len(chunks))) and len(chunks) > 10
    assert "".join(c.data["delta"] for c in chunks) == done.data["text"]
    assert "Mara" in done.data["text"] and done.data["text"].endswith("?")  # the offline reply's last line

    reply_id = turn.json()["data"]["reply_message_id"]
    stored = await _persisted(site, user, conversation, reply_id)
    assert stored["content"] == done.data["text"]


async def test_only_participants_may_follow_a_conversation(site: Site) -> None:
    owner, other = await sign_up(site.http, "owner"), await sign_up(site.http, "other")
    conversation = await site.conversation(owner)
    for who, channels in (
        (other, f"channel:{conversation}"),
        (owner, "channel:no-such-conversation"),
        (owner, f"channel:{conversation},user:{other.id}"),
    ):
        r = await site.http.get("/events", params={"channels": channels}, headers=who.headers)
        assert r.status_code == 403, (channels, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    async with open_stream(site.http, params={"channels": f"channel:{conversation}"}, headers=owner.headers):
        pass


async def test_without_persona_svc_a_conversation_channel_is_503_not_403(stack: Mesh) -> None:
    gw = await events_gateway(stack)
    async with client(gw.url) as http:
        user = await sign_up(http)
        r = await http.get("/events", params={"channels": "channel:c1"}, headers=user.headers)
    assert r.status_code == 503 and r.json()["error"]["details"]["channel"] == "channel:c1"


async def _persisted(site: Site, user: User, conversation: str, reply_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            r = await site.http.get(f"/conversations/{conversation}/messages", headers=user.headers)
            for message in r.json()["data"]:
                if message["id"] == reply_id and message.get("job_id") and message["content"]:
                    return dict(message)
            await asyncio.sleep(0.1)


async def test_anyone_may_follow_the_community_channel_and_sees_only_public_personas(site: Site) -> None:
    """`public:community` needs no credential: new public personas and like counts, nothing else."""
    creator, fan = await sign_up(site.http, "creator"), await sign_up(site.http, "fan")
    # A visitor may ask for public channels only; a broken credential is refused, not ignored.
    assert (await site.http.get("/events", params={"channels": f"user:{fan.id}"})).status_code == 401
    assert (await site.http.get("/events")).status_code == 401
    unknown = await site.http.get("/events", params={"channels": "public:secrets"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["field"] == "channels"
    forged = await site.http.get(
        "/events", params={"channels": "public:community"}, headers={"authorization": "Bearer x.y.z"}
    )
    assert forged.status_code == 401
    async with open_stream(site.http, params={"channels": "public:community"}) as sse:
        hidden = await site.http.post(
            "/personas",
            json={**PERSONA, "name": "Quiet One", "visibility": "unlisted"},
            headers=creator.headers,
        )
        assert hidden.status_code == 201, hidden.text
        # An unlisted persona's like is nobody else's business: no event for it either.
        assert (
            await site.http.put(f"/personas/{hidden.json()['data']['id']}/like", headers=fan.headers)
        ).is_success
        r = await site.http.post("/personas", json=PERSONA, headers=creator.headers)
        assert r.status_code == 201, r.text
        persona_id = r.json()["data"]["id"]
        liked = await site.http.put(f"/personas/{persona_id}/like", headers=fan.headers)
        assert liked.status_code == 200, liked.text
        published, stats = await sse.next(), await sse.next()
    assert published.event == "persona_published" and published.data["channel"] == "public:community"
    assert published.data["persona_id"] == persona_id and published.data["name"] == PERSONA["name"]
    assert stats.event == "persona_stats"
    assert stats.data == {
        "event": "persona_stats",
        "channel": "public:community",
        "persona_id": persona_id,
        "like_count": 1,
        "chat_count": 0,
    }
    # A member's stream may carry the community channel beside their own.
    async with open_stream(
        site.http, params={"channels": "public:community"}, headers=creator.headers
    ) as member:
        assert (await site.http.delete(f"/personas/{persona_id}/like", headers=fan.headers)).is_success
        unliked = await member.next()
    assert unliked.event == "persona_stats" and unliked.data["like_count"] == 0
    # A chat started with it counts too.
    async with open_stream(site.http, params={"channels": "public:community"}) as sse:
        started = await site.http.post(f"/personas/{persona_id}/conversations", headers=fan.headers)
        assert started.status_code == 201, started.text
        chatted = await sse.next()
    assert chatted.event == "persona_stats" and chatted.data["chat_count"] == 1


async def test_a_like_notification_carries_the_like_count(site: Site) -> None:
    creator, fan = await sign_up(site.http, "creator"), await sign_up(site.http, "fan")
    r = await site.http.post("/personas", json={**PERSONA, "visibility": "unlisted"}, headers=creator.headers)
    persona_id = r.json()["data"]["id"]
    async with open_stream(site.http, headers=creator.headers) as sse:
        assert (await site.http.put(f"/personas/{persona_id}/like", headers=fan.headers)).is_success
        note = await sse.next()
    assert note.event == "notification" and note.data["kind"] == "like"
    assert note.data["persona_id"] == persona_id and note.data["like_count"] == 1
