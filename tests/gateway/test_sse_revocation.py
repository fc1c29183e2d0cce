"""A revoked session's event streams end at once with `session_revoked` (on every gateway,
whichever way it was revoked); other sessions' go on."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import msgspec
import nats
import pytest
from nats.aio.client import Client as NATS

from chassis.events import EventPublisher
from gateway.app import create_app as create_gateway
from proto.chat import AiChatChunk
from proto.subjects import user_channel
from tests.support.mesh import Mesh, client, with_health_port
from tests.support.sse import SseStream, events_gateway, open_stream
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


# Every way a session is revoked ends its streams. The time from the revoking request's answer
# to the arrival of the stream's last frame is printed (`pytest -rP` shows it; negative when
# the frame came first) and only bounded generously: the watcher of the `revoked` bucket takes
# milliseconds, a loaded CI box longer.
GENEROUS = 10.0
DEV_RESET = re.compile(
    r"\[DEV\] password reset code created — use this code to reset your password code=(\d{6})"
)


async def ended_by_revocation(stream: SseStream, answered: float, reason: str = "session_revoked") -> float:
    """Seconds from `answered` until the stream's last event, `session_revoked`, arrived."""
    last = await stream.next(timeout=GENEROUS)
    elapsed = last.received_at - answered
    assert last.event == "session_revoked" and last.data == {"reason": reason}
    assert await asyncio.wait_for(stream.events.get(), GENEROUS) is None and stream.ended
    return elapsed


def measured(what: str, *seconds: float) -> None:
    print(f"measured {what}: " + ", ".join(f"{s * 1000:+.1f} ms" for s in seconds))


async def still_delivers(stream: SseStream, nc: NATS, user: User, delta: str) -> None:
    event = AiChatChunk(job_id="j", conversation_id="c", message_id="m", index=0, delta=delta)
    await EventPublisher(nc.jetstream()).publish([user_channel(user.id)], event)
    got = await stream.next(timeout=GENEROUS)
    assert got.event == "ai_chat_chunk" and got.data["delta"] == delta


async def test_logout_ends_the_sessions_streams_and_refuses_its_tickets(stack: Mesh) -> None:
    gw = await events_gateway(stack, msgspec.structs.replace(stack.settings, sse_heartbeat=0.5))
    async with client(gw.url) as http, client(gw.url) as other_http:
        user = await sign_up(http, "leaver")
        tickets = [
            (await http.post("/events/tickets", headers=user.headers)).json()["data"]["ticket"]
            for _ in range(2)
        ]
        # A browser's stream (opened with a ticket, as EventSource sends no header) and an API client's.
        async with (
            open_stream(http, params={"ticket": tickets[0]}) as browser,
            open_stream(other_http, headers=user.headers) as program,
        ):
            r = await http.post("/auth/logout", headers=user.headers)
            answered = time.monotonic()
            assert r.status_code == 204, r.text
            elapsed = [await ended_by_revocation(s, answered) for s in (browser, program)]
        measured("logout_to_stream_end", *elapsed)
        assert max(elapsed) < GENEROUS
        ticket = tickets[1]
        r = await http.get("/events", params={"ticket": ticket})
        assert r.status_code == 401 and r.json()["error"]["code"] == "session_revoked"


async def test_password_change_ends_the_other_sessions_streams_only(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, sse_heartbeat=0.5)
    gw = await events_gateway(stack, settings)
    nc = await nats.connect(settings.nats_url)
    try:
        async with client(gw.url) as http, client(gw.url) as other_http:
            user = await sign_up(http, "changer")
            phone = await second_session(http, user)
            async with (
                open_stream(http, headers=user.headers) as laptop,
                open_stream(other_http, headers=phone) as kept,
            ):
                r = await http.post(
                    "/auth/password/change",
                    json={"current_password": user.password, "password": "a brand new secret"},
                    headers=phone,
                )
                answered = time.monotonic()
                assert r.status_code == 204, r.text
                elapsed = await ended_by_revocation(laptop, answered)
                # The session that changed the password keeps its stream.
                await still_delivers(kept, nc, user, "still mine")
        measured("password_change_to_stream_end", elapsed)
        assert elapsed < GENEROUS
    finally:
        await nc.close()


async def test_password_reset_ends_every_stream_of_the_account(
    stack: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    gw = await events_gateway(stack, msgspec.structs.replace(stack.settings, sse_heartbeat=0.5))
    async with client(gw.url) as http, client(gw.url) as other_http:
        user = await sign_up(http, "forgetful")
        phone = await second_session(http, user)
        async with (
            open_stream(http, headers=user.headers) as laptop,
            open_stream(other_http, headers=phone) as tablet,
        ):
            capsys.readouterr()
            assert (await http.post("/auth/password/forgot", json={"email": user.email})).status_code == 202
            code = await reset_code(capsys)
            r = await http.post(
                "/auth/password/reset",
                json={"email": user.email, "code": code, "password": "new secret"},
            )
            answered = time.monotonic()
            assert r.status_code == 200, r.text
            elapsed = [await ended_by_revocation(s, answered) for s in (laptop, tablet)]
        measured("password_reset_to_stream_end", *elapsed)
        assert max(elapsed) < GENEROUS


async def reset_code(capsys: pytest.CaptureFixture[str]) -> str:
    """The reset code auth_svc prints in standalone mode (no NOTIFY_URL)."""
    printed = ""
    deadline = time.monotonic() + GENEROUS
    while time.monotonic() < deadline:
        printed += capsys.readouterr().out
        if found := DEV_RESET.findall(printed):
            return str(found[-1])
        await asyncio.sleep(0.05)
    raise AssertionError("no password reset code was printed")


async def test_refresh_token_reuse_ends_the_sessions_streams(stack: Mesh) -> None:
    # No grace window: the second use of a refresh token is a reuse at once.
    settings = msgspec.structs.replace(stack.settings, sse_heartbeat=0.5, refresh_reuse_grace=0.0)
    gw = await events_gateway(stack, settings)
    async with client(gw.url) as http:
        user = await sign_up(http, "stolen")
        async with open_stream(http, headers=user.headers) as stream:
            r = await http.post("/auth/refresh", json={"refresh_token": user.refresh_token})
            assert r.status_code == 200, r.text
            # The stolen copy of the old token comes back: the whole session is revoked.
            r = await http.post("/auth/refresh", json={"refresh_token": user.refresh_token})
            answered = time.monotonic()
            assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_reused", r.text
            elapsed = await ended_by_revocation(stream, answered)
        measured("refresh_reuse_to_stream_end", elapsed)
        assert elapsed < GENEROUS


async def test_revocation_ends_the_streams_on_every_gateway(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, sse_heartbeat=0.5)
    first = await events_gateway(stack, settings)
    second = await stack.server(create_gateway(with_health_port(settings)))
    async with client(first.url) as http, client(second.url) as other_http:
        user = await sign_up(http, "roamer")
        ticket = (await http.post("/events/tickets", headers=user.headers)).json()["data"]["ticket"]
        async with (
            open_stream(http, headers=user.headers) as here,
            open_stream(other_http, headers=user.headers) as there,
        ):
            r = await http.post("/auth/logout", headers=user.headers)
            answered = time.monotonic()
            assert r.status_code == 204, r.text
            elapsed = [await ended_by_revocation(s, answered) for s in (here, there)]
        measured("logout_to_stream_end_on_each_gateway", *elapsed)
        assert max(elapsed) < GENEROUS
        # Tickets live in a bucket every gateway shares: the other one refuses it too.
        r = await other_http.get("/events", params={"ticket": ticket})
        assert r.status_code == 401 and r.json()["error"]["code"] == "session_revoked"


async def test_revoking_an_api_key_ends_the_streams_it_opened(stack: Mesh) -> None:
    gw = await events_gateway(stack, msgspec.structs.replace(stack.settings, sse_heartbeat=0.5))
    async with client(gw.url) as http, client(gw.url) as other_http:
        user = await sign_up(http, "scripter")
        made = [
            (await http.post("/auth/api-keys", json={"name": f"bot {i}"}, headers=user.headers)).json()[
                "data"
            ]
            for i in range(2)
        ]
        deleted, changed = ({"x-api-key": k["key"]} for k in made)
        ticket = (await http.post("/events/tickets", headers=changed)).json()["data"]["ticket"]
        async with (
            open_stream(http, headers=deleted) as first,
            open_stream(other_http, headers=changed) as second,
            open_stream(http, headers=user.headers) as signed_in,
        ):
            r = await http.delete(f"/auth/api-keys/{made[0]['id']}", headers=user.headers)
            answered = time.monotonic()
            assert r.status_code == 204, r.text
            by_delete = await ended_by_revocation(first, answered, reason="api_key_revoked")
            r = await http.post(
                "/auth/password/change",
                json={"current_password": user.password, "password": "new secret", "revoke_api_keys": True},
                headers=user.headers,
            )
            answered = time.monotonic()
            assert r.status_code == 204, r.text
            by_change = await ended_by_revocation(second, answered, reason="api_key_revoked")
            assert not signed_in.ended
        measured("api_key_revocation_to_stream_end", by_delete, by_change)
        assert max(by_delete, by_change) < GENEROUS
        r = await http.get("/events", params={"ticket": ticket})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
