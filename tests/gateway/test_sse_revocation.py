"""A revoked session's event streams end at once with `session_revoked`; other sessions' go on."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import nats

from chassis.events import EventPublisher
from proto.chat import AiChatChunk
from proto.subjects import user_channel
from tests.support.mesh import Mesh, client
from tests.support.sse import events_gateway, open_stream
from tests.support.users import User, sign_up


async def second_session(http: httpx.AsyncClient, user: User) -> dict[str, str]:
    r = await http.post("/auth/login", json={"email": user.email, "password": user.password})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['data']['access_token']}"}


async def test_revoking_a_session_ends_its_streams_and_refuses_its_tickets(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, sse_heartbeat=0.5)
    gw = await events_gateway(stack, settings)
    nc = await nats.connect(settings.nats_url)
    try:
        async with client(gw.url) as http, client(gw.url) as other_http:
            user = await sign_up(http, "revokee")
            phone = await second_session(http, user)
            ticket = (await http.post("/events/tickets", headers=user.headers)).json()["data"]["ticket"]
            sessions = (await http.get("/auth/sessions", headers=phone)).json()["data"]
            laptop_session = next(s["id"] for s in sessions if not s["current"])

            async with (
                open_stream(http, headers=user.headers) as laptop,
                open_stream(other_http, headers=phone) as kept,
            ):
                r = await http.delete(f"/auth/sessions/{laptop_session}", headers=phone)
                assert r.status_code == 204
                last = await laptop.next(timeout=5.0)
                assert last.event == "session_revoked" and last.id is None
                assert last.data == {"reason": "session_revoked"}
                # The stream is over: nothing follows, and the ticket of that session is refused.
                with_end = await asyncio.wait_for(laptop.events.get(), 5.0)
                assert with_end is None and laptop.ended
                r = await http.get("/events", params={"ticket": ticket})
                assert r.status_code == 401 and r.json()["error"]["code"] == "session_revoked"

                # The phone's session was not revoked: its stream still carries events.
                event = AiChatChunk(
                    job_id="j", conversation_id="c", message_id="m", index=0, delta="still here"
                )
                await EventPublisher(nc.jetstream()).publish([user_channel(user.id)], event)
                got = await kept.next(timeout=10.0)
                assert got.event == "ai_chat_chunk" and got.data["delta"] == "still here"

                # Sign out everywhere ends the caller's own stream too.
                assert (await http.delete("/auth/sessions", headers=phone)).status_code == 204
                last = await kept.next(timeout=5.0)
                assert last.event == "session_revoked"
    finally:
        await nc.close()
