"""At most SSE_MAX_STREAMS_PER_USER (20) concurrent event streams per user on a gateway: the
next one is a 429 `too_many_streams` before any stream starts, and closing one frees a slot."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import msgspec

from tests.support.mesh import Mesh, client
from tests.support.sse import SseStream, events_gateway, open_stream
from tests.support.users import User, sign_up

GENEROUS = 10.0


async def refused_stream(
    http: httpx.AsyncClient, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """GET /events that must not become a stream; returns the read answer."""
    async with http.stream("GET", "/events", params=params, headers=headers) as response:
        await response.aread()
        return response


async def ticket(http: httpx.AsyncClient, user: User) -> str:
    r = await http.post("/events/tickets", headers=user.headers)
    assert r.status_code == 201, r.text
    value: str = r.json()["data"]["ticket"]
    return value


async def test_the_21st_stream_of_a_user_is_refused_until_one_closes(stack: Mesh) -> None:
    assert stack.settings.sse_max_streams_per_user == 20
    gw = await events_gateway(stack)
    # One exit stack per stream, so the test can close exactly one.
    holders = [contextlib.AsyncExitStack() for _ in range(20)]
    async with client(gw.url) as http, contextlib.AsyncExitStack() as cleanup:
        for holder in holders:
            cleanup.push_async_callback(holder.aclose)
        user = await sign_up(http, "hoarder")
        other = await sign_up(http, "neighbour")
        # Refused requests hold no slot: 25 forbidden channels leave all 20 free.
        for _ in range(25):
            r = await refused_stream(http, headers=user.headers, params={"channels": f"user:{other.id}"})
            assert r.status_code == 403, r.text

        streams: list[SseStream] = []
        for i, holder in enumerate(holders):
            # Browsers come with tickets, programs with a header: both count.
            if i % 2:
                opened = open_stream(http, params={"ticket": await ticket(http, user)})
            else:
                opened = open_stream(http, headers=user.headers)
            streams.append(await holder.enter_async_context(opened))

        for r in (
            await refused_stream(http, headers=user.headers),
            await refused_stream(http, params={"ticket": await ticket(http, user)}),
        ):
            assert r.status_code == 429, r.text
            assert r.headers["content-type"].startswith("application/json")
            body = r.json()
            assert body["error"]["code"] == "too_many_streams"
            assert "at most 20" in body["error"]["message"] and "close one" in body["error"]["message"]
            assert body["error"]["details"] == {"limit": 20, "open": 20}
            assert body["meta"]["request_id"]

        # Another user is not affected.
        async with open_stream(http, headers=other.headers) as theirs:
            assert not theirs.ended

        # The 20 streams were not disturbed, and closing one frees its slot (one only).
        assert not any(s.ended for s in streams)
        await holders[0].aclose()
        closed = time.monotonic()
        while True:
            async with http.stream("GET", "/events", headers=user.headers) as response:
                if response.status_code == 200:
                    freed = time.monotonic() - closed
                    r = await refused_stream(http, headers=user.headers)
                    assert r.status_code == 429, r.text
                    break
                await response.aread()
                assert response.status_code == 429, response.text
            assert time.monotonic() - closed < GENEROUS, "closing a stream did not free its slot"
            await asyncio.sleep(0.05)
        print(f"measured slot freed after closing a stream: {freed * 1000:.1f} ms")


async def test_a_lower_cap_is_a_setting(stack: Mesh) -> None:
    gw = await events_gateway(stack, msgspec.structs.replace(stack.settings, sse_max_streams_per_user=1))
    async with client(gw.url) as http:
        user = await sign_up(http, "single")
        async with open_stream(http, headers=user.headers):
            r = await refused_stream(http, headers=user.headers)
            assert r.status_code == 429 and r.json()["error"]["details"]["limit"] == 1
