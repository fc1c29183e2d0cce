"""`python -m gateway` under each ASGI server GATEWAY_SERVER offers (Hypercorn, uvicorn, Granian):
a request through the bridge, an SSE stream delivering events, an upload through the object
store, HTTP/2 where the server speaks it, and SIGTERM letting a request in progress finish.
Real processes: nats-server, auth_svc, media_svc and the gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from dataclasses import dataclass

import httpx
import nats
import pytest

from chassis.events import EventPublisher
from gateway.servers import SERVERS
from proto.chat import AiChatChunk
from proto.subjects import user_channel
from tests.support.media import png_bytes
from tests.support.natsd import NatsServer
from tests.support.procs import Proc, Procs
from tests.support.rawhttp import read_answer
from tests.support.sse import open_stream
from tests.support.users import User, sign_up


@dataclass
class Edge:
    nats: NatsServer
    gateway: Proc
    server: str

    def http(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway.url, timeout=30.0, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=SERVERS)
async def edge(request: pytest.FixtureRequest, procs: Procs, nats_alone: NatsServer) -> Edge:
    server: str = request.param
    auth = procs.start("auth", "auth_svc")
    media = procs.start("media", "media_svc")
    gateway = procs.start("gateway", "gateway", GATEWAY_SERVER=server)
    await procs.wait_ready([auth, media])
    await gateway.wait_alive()  # not ready: persona_svc is not started
    return Edge(nats_alone, gateway, server)


async def test_bridge_sse_and_upload(edge: Edge) -> None:
    async with edge.http() as http:
        user = await sign_up(http)
        me = await http.get("/auth/me", headers=user.headers)
        assert me.status_code == 200, me.text
        assert me.json()["data"]["id"] == user.id

        async with open_stream(http, headers=user.headers) as stream:
            sequences = await publish(edge.nats.url, user, 3)
            received = [await stream.next() for _ in sequences]
        assert [e.id for e in received] == sequences
        assert [e.data["delta"] for e in received] == ["step-0", "step-1", "step-2"]

        # Larger than the bus's inline threshold: it travels through the object store.
        image = png_bytes(1400, 1000)
        upload = await http.post(
            "/media/uploads", files={"file": ("a.png", image, "image/png")}, headers=user.headers
        )
        assert upload.status_code == 202, upload.text


async def test_http2_where_the_server_speaks_it(edge: Edge) -> None:
    async with edge.http(http1=False, http2=True) as http:
        if edge.server == "uvicorn":  # no HTTP/2 in uvicorn: the h2c preface is refused
            with pytest.raises(httpx.HTTPError):
                await http.get("/healthz")
            return
        r = await http.get("/healthz")
    assert r.status_code == 200
    assert r.http_version == "HTTP/2"


async def test_sigterm_lets_a_request_in_progress_finish_and_ends_streams_cleanly(edge: Edge) -> None:
    async with edge.http() as http:
        user = await sign_up(http)
        async with open_stream(http, headers=user.headers) as stream:
            body = b'{"display_name": "still here"}'
            reader, writer = await asyncio.open_connection("127.0.0.1", edge.gateway.port)
            head = (
                "PATCH /auth/me HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
                f"authorization: Bearer {user.access_token}\r\ncontent-length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body[:10])
            await writer.drain()
            await asyncio.sleep(0.3)  # the gateway is reading the body
            os.kill(edge.gateway.pid, signal.SIGTERM)
            # The open stream ends at once, cleanly (EventSource reconnects elsewhere), rather than
            # holding the shutdown.
            with pytest.raises(EOFError):
                await stream.next(timeout=5)
            writer.write(body[10:])
            await writer.drain()
            status, _, answer = await asyncio.wait_for(read_answer(reader), 10)
            writer.close()
    assert status == 200, answer
    assert b"still here" in answer
    process = edge.gateway.process
    assert process is not None
    assert await asyncio.to_thread(process.wait, 15) == 0


async def test_two_gateways_on_one_nats_deliver_each_event_once_to_each_client(
    procs: Procs, nats_alone: NatsServer
) -> None:
    """Scale-out as production runs it (deploy/: Granian): each process subscribes for its own
    clients, and neither a second process nor a second stream of the same user duplicates."""
    auth = procs.start("auth", "auth_svc")
    gateways = [procs.start(f"gateway-{n}", "gateway", GATEWAY_SERVER="granian") for n in (1, 2)]
    await procs.wait_ready([auth])
    await asyncio.gather(*(g.wait_alive() for g in gateways))
    async with (
        httpx.AsyncClient(base_url=gateways[0].url, timeout=30.0) as one,
        httpx.AsyncClient(base_url=gateways[1].url, timeout=30.0) as two,
    ):
        user = await sign_up(one)
        async with (
            open_stream(one, headers=user.headers) as a1,
            open_stream(one, headers=user.headers) as a2,
            open_stream(two, headers=user.headers) as b1,
        ):
            sequences = await publish(nats_alone.url, user, 20)
            for stream in (a1, a2, b1):
                assert [(await stream.next()).id for _ in sequences] == sequences
                with pytest.raises(TimeoutError):  # and nothing more
                    await stream.next(timeout=0.5)


async def publish(nats_url: str, user: User, count: int) -> list[int]:
    nc = await nats.connect(nats_url)
    try:
        events = EventPublisher(nc.jetstream())
        job = uuid.uuid4().hex
        sequences = []
        for i in range(count):
            chunk = AiChatChunk(job_id=job, conversation_id=job, message_id=job, index=i, delta=f"step-{i}")
            sequences += await events.publish([user_channel(user.id)], chunk)
        return sequences
    finally:
        await nc.close()
