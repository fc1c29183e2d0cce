"""`/events`: tickets, channel authorization, frames, replay with Last-Event-ID, heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import msgspec
import nats
import pytest
from nats.aio.client import Client as NATS

from chassis.events import EventPublisher
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from proto.chat import AiChatChunk
from proto.subjects import user_channel
from tests.support.mesh import Mesh, RunningServer, client, metric
from tests.support.sse import SseEvent, SseStream, events_gateway, open_stream
from tests.support.users import User, sign_up


@dataclass
class Live:
    gateway: RunningServer
    settings: Settings
    nc: NATS
    events: EventPublisher

    async def publish(self, user: User, index: int) -> int:
        event = AiChatChunk(job_id="j", conversation_id="c", message_id="m", index=index, delta=f"t{index}")
        [seq] = await self.events.publish([user_channel(user.id)], event)
        return seq

    async def user(self) -> User:
        async with client(self.gateway.url) as http:
            return await sign_up(http)


@pytest.fixture
async def live(stack: Mesh) -> AsyncIterator[Live]:
    settings = msgspec.structs.replace(stack.settings, sse_heartbeat=0.3)
    gw = await events_gateway(stack, settings)
    nc = await nats.connect(settings.nats_url)
    try:
        yield Live(gw, settings, nc, EventPublisher(nc.jetstream()))
    finally:
        await nc.close()


async def ticket(http: httpx.AsyncClient, user: User) -> str:
    r = await http.post("/events/tickets", headers=user.headers)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["expires_in"] == 30 and len(data["ticket"]) >= 40
    return str(data["ticket"])


async def frames(sse: SseStream, n: int) -> list[SseEvent]:
    return [await sse.next() for _ in range(n)]


async def test_ticket_needs_a_signed_in_caller(live: Live) -> None:
    async with client(live.gateway.url) as http:
        r = await http.post("/events/tickets")
        anonymous = await http.get("/events")
        wrong_method = await http.get("/events/tickets")
        doc = (await http.get("/openapi.json")).json()
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert anonymous.status_code == 401
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert doc["paths"]["/events/tickets"]["post"]["responses"]["201"]
    assert "text/event-stream" in doc["paths"]["/events"]["get"]["responses"]["200"]["content"]


async def test_events_carry_stream_id_name_and_json_with_channel(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http:
        async with open_stream(http, params={"ticket": await ticket(http, user)}) as sse:
            seq = await live.publish(user, 7)
            [event] = await frames(sse, 1)
    assert sse.retry == 3000
    assert event.id == seq and event.event == "ai_chat_chunk"
    assert event.data == {
        "event": "ai_chat_chunk",
        "channel": f"user:{user.id}",
        "job_id": "j",
        "conversation_id": "c",
        "message_id": "m",
        "index": 7,
        "delta": "t7",
    }


async def test_a_ticket_is_single_use(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http:
        t = await ticket(http, user)
        async with open_stream(http, params={"ticket": t}):
            pass
        reused = await http.get("/events", params={"ticket": t})
        forged = await http.get("/events", params={"ticket": t[:-2] + "xx"})
    assert reused.status_code == 401 and "already used" in reused.json()["error"]["message"]
    assert forged.status_code == 401


async def test_a_ticket_from_one_gateway_works_once_on_another(live: Live, stack: Mesh) -> None:
    other = await stack.server(create_gateway(live.settings))
    user = await live.user()
    async with client(live.gateway.url) as a, client(other.url) as b:
        t = await ticket(a, user)
        async with open_stream(b, params={"ticket": t}) as sse:
            seq = await live.publish(user, 1)
            assert (await sse.next()).id == seq
        assert (await a.get("/events", params={"ticket": t})).status_code == 401


async def test_an_expired_ticket_is_refused(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, sse_ticket_ttl=1.0)
    gw = await events_gateway(stack, settings)
    async with client(gw.url) as http:
        user = await sign_up(http)
        r = await http.post("/events/tickets", headers=user.headers)
        assert r.json()["data"]["expires_in"] == 1
        await asyncio.sleep(1.5)  # past the deadline: lateness only makes it more expired
        late = await http.get("/events", params={"ticket": r.json()["data"]["ticket"]})
    assert late.status_code == 401


async def test_authorization_header_works_for_non_browser_clients(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http, open_stream(http, headers=user.headers) as sse:
        seq = await live.publish(user, 1)
        assert (await sse.next()).id == seq
    async with client(live.gateway.url) as http:
        forged = await http.get("/events", headers={"authorization": "Bearer not-a-token"})
    assert forged.status_code == 401


async def test_another_users_channel_is_forbidden_before_the_stream_opens(live: Live) -> None:
    me, other = await live.user(), await live.user()
    async with client(live.gateway.url) as http:
        t = await ticket(http, me)
        r = await http.get("/events", params={"ticket": t, "channels": f"user:{other.id}"})
        by_header = await http.get("/events", headers=me.headers, params={"channels": f"user:{other.id}"})
    assert r.status_code == 403 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["details"]["channel"] == f"user:{other.id}"
    assert by_header.status_code == 403


async def test_malformed_channels_and_event_ids_are_422(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http:
        bad = await http.get("/events", headers=user.headers, params={"channels": "room:1"})
        bad_id = await http.get("/events", headers={**user.headers, "last-event-id": "abc"})
        bad_query = await http.get("/events", headers=user.headers, params={"last_event_id": "-3"})
        too_many = await http.get(
            "/events", headers=user.headers, params={"channels": ",".join(f"channel:c{i}" for i in range(20))}
        )
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "channels"
    assert bad_id.status_code == 422 and bad_id.json()["error"]["details"]["field"] == "last_event_id"
    assert bad_query.status_code == 422 and bad_query.json()["error"]["details"]["field"] == "last_event_id"
    assert too_many.status_code == 422 and too_many.json()["error"]["details"]["field"] == "channels"


async def test_a_malformed_request_does_not_use_up_its_ticket(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http:
        t = await ticket(http, user)
        bad = await http.get("/events", params={"ticket": t, "channels": "room:1"})
        assert bad.status_code == 422
        async with open_stream(http, params={"ticket": t}) as sse:
            seq = await live.publish(user, 1)
            assert (await sse.next()).id == seq


async def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http:
        async with open_stream(http, headers=user.headers) as sse:
            first = [await live.publish(user, i) for i in range(5)]
            got = await frames(sse, 5)
        assert [e.id for e in got] == first
        missed = [await live.publish(user, i) for i in range(5, 25)]
        # Events keep coming while the client reconnects: the switch from replay to live must
        # neither drop nor repeat any of them.
        publishing = asyncio.create_task(_publish_many(live, user, range(25, 125)))
        async with open_stream(http, headers={**user.headers, "last-event-id": str(got[-1].id)}) as sse:
            later = await publishing
            resumed = await frames(sse, len(missed) + len(later))
            await asyncio.sleep(0.3)  # nothing else may follow (a duplicate would)
            assert sse.events.empty()
    assert [e.id for e in resumed] == missed + later
    assert [e.data["index"] for e in resumed] == list(range(5, 125))


async def test_last_event_id_query_parameter_replays_too(live: Live) -> None:
    user = await live.user()
    seqs = [await live.publish(user, i) for i in range(6)]
    async with client(live.gateway.url) as http:
        t = await ticket(http, user)
        async with open_stream(http, params={"ticket": t, "last_event_id": str(seqs[1])}) as sse:
            got = await frames(sse, 4)
    assert [e.id for e in got] == seqs[2:]


async def test_unknown_last_event_id_asks_the_client_to_resync(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http:
        async with open_stream(http, headers={**user.headers, "last-event-id": "999999"}) as sse:
            first = await sse.next()
            seq = await live.publish(user, 1)
            second = await sse.next()
    assert first.event == "resync" and first.data == {"reason": "unknown_last_event_id"}
    assert second.id == seq


async def test_idle_stream_gets_comment_heartbeats(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http, open_stream(http, headers=user.headers) as sse:
        async with asyncio.timeout(10):
            while "heartbeat" not in sse.comments:
                await asyncio.sleep(0.05)
    assert sse.comments[0] == "connected"


async def test_connections_of_one_subject_share_one_subscription(live: Live) -> None:
    user = await live.user()
    async with client(live.gateway.url) as http:
        before = await metric(live.gateway.health_url, "persona_sse_subscriptions")
        async with (
            open_stream(http, headers=user.headers) as a,
            open_stream(http, headers=user.headers) as b,
            open_stream(http, headers=user.headers) as c,
        ):
            assert await metric(live.gateway.health_url, "persona_sse_subscriptions") == before + 1
            assert await metric(live.gateway.health_url, "persona_sse_connections") >= 3
            seq = await live.publish(user, 1)
            assert [(await s.next()).id for s in (a, b, c)] == [seq] * 3


async def _publish_many(live: Live, user: User, indexes: range) -> list[int]:
    out = []
    for i in indexes:
        out.append(await live.publish(user, i))
        await asyncio.sleep(0)
    return out
