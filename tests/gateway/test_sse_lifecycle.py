"""SSE connections come and go without leaks; a client that stops reading is cut off and can resume."""

from __future__ import annotations

import asyncio
import socket

import msgspec
import nats

from auth_svc.app import create_app as create_auth
from chassis.events import EventPublisher
from gateway.app import create_app as create_gateway
from gateway.sse import EventsPlugin
from proto.chat import AiChatChunk
from proto.subjects import user_channel
from tests.support.mesh import Mesh, client, metric, with_health_port
from tests.support.natsd import NatsServer
from tests.support.sse import events_gateway, open_stream
from tests.support.users import User, sign_up

CONNECTIONS = 1000
USERS = 10


class RawStream:
    """An SSE client on a bare socket: it reads only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, port: int, user: User, *, rcvbuf: int | None = None, last_id: int | None = None
    ) -> RawStream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        extra = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
        writer.write(
            f"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {user.access_token}\r\n"
            f"{extra}\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return cls(reader, writer)

    async def body(self) -> bytes:
        """Everything left on the stream until the server closes it (chunked encoding removed)."""
        raw = await asyncio.wait_for(self.reader.read(-1), 60)
        out = bytearray()
        while raw:
            size_line, _, rest = raw.partition(b"\r\n")
            size = int(size_line, 16) if size_line else 0
            if size == 0 or len(rest) < size:
                out += rest[:size] if size else b""
                break
            out += rest[:size]
            raw = rest[size + 2 :]
        return bytes(out)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


def frame_ids(body: bytes) -> list[int]:
    """Ids of the complete frames in an SSE body."""
    ids = []
    for block in body.split(b"\n\n")[:-1]:
        for line in block.split(b"\n"):
            if line.startswith(b"id: "):
                ids.append(int(line[4:]))
    return ids


async def test_opening_and_closing_1000_streams_leaves_nothing_behind(stack: Mesh) -> None:
    # 100 streams per user: above the default cap of 20 (tests/gateway/test_sse_stream_cap.py).
    settings = msgspec.structs.replace(stack.settings, sse_max_streams_per_user=CONNECTIONS // USERS)
    await stack.app(create_auth(settings))
    app = create_gateway(with_health_port(settings))
    gw = await stack.server(app)
    plugin = next(p for p in app.plugins if isinstance(p, EventsPlugin))
    names = ("persona_sse_connections", "persona_sse_subscriptions", "persona_sse_tasks")
    async with client(gw.url) as http:
        users = [await sign_up(http) for _ in range(USERS)]
        before = {n: await metric(gw.health_url, n) for n in names}
        tasks_before = len(asyncio.all_tasks())
        streams = []
        for user in users:
            streams += await asyncio.gather(
                *(RawStream.open(gw.port, user) for _ in range(CONNECTIONS // USERS))
            )
        during = {n: await metric(gw.health_url, n) for n in names}
        assert during["persona_sse_connections"] == before["persona_sse_connections"] + CONNECTIONS
        # One subscription per followed subject, whatever the number of connections.
        assert during["persona_sse_subscriptions"] == before["persona_sse_subscriptions"] + USERS
        # Each connection is its response task plus one watching for the client leaving.
        assert during["persona_sse_tasks"] == before["persona_sse_tasks"] + 2 * CONNECTIONS
        await asyncio.gather(*(s.close() for s in streams))
        async with asyncio.timeout(30):
            while {n: await metric(gw.health_url, n) for n in names} != before:
                await asyncio.sleep(0.1)
            while len(asyncio.all_tasks()) > tasks_before:
                await asyncio.sleep(0.1)
    assert plugin.hub.topics == {}


async def test_a_client_that_stops_reading_is_disconnected_and_resumes(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, sse_queue_size=8)
    gw = await events_gateway(stack, settings)
    nc = await nats.connect(settings.nats_url)
    events = EventPublisher(nc.jetstream())
    big = "x" * 16384
    published: list[int] = []

    async def publish(n: int) -> None:
        for _ in range(n):
            chunk = AiChatChunk(
                job_id="j", conversation_id="c", message_id="m", index=len(published), delta=big
            )
            published.extend(await events.publish([user_channel(user.id)], chunk))

    try:
        async with client(gw.url) as http:
            user = await sign_up(http)
        async with client(gw.url) as http, open_stream(http, headers=user.headers) as healthy:
            dropped = await metric(gw.health_url, "persona_sse_slow_clients_total")
            slow = await RawStream.open(gw.port, user, rcvbuf=4096)
            connections = await metric(gw.health_url, "persona_sse_connections")
            async with asyncio.timeout(120):
                while await metric(gw.health_url, "persona_sse_slow_clients_total") == dropped:
                    await publish(20)
                while await metric(gw.health_url, "persona_sse_connections") != connections - 1:
                    await asyncio.sleep(0.05)
            # The healthy client on the same channel was not held back.
            received = [(await healthy.next()).id for _ in published]
            assert received == published
        # What the slow client had buffered, then the end of the stream.
        got = frame_ids(await slow.body())
        await slow.close()
        assert got == published[: len(got)] and len(got) < len(published)
        # Resuming from the last complete frame delivers the rest, in order.
        await publish(3)
        resumed = await RawStream.open(gw.port, user, last_id=got[-1] if got else 0)
        rest: list[int] = []
        buffered = b""
        async with asyncio.timeout(30):
            while len(got) + len(rest) < len(published):
                buffered += await resumed.reader.read(65536)
                rest = frame_ids(_dechunk(buffered))
        await resumed.close()
        assert got + rest == published
    finally:
        await nc.close()


def _dechunk(raw: bytes) -> bytes:
    out = bytearray()
    while raw:
        size_line, sep, rest = raw.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0 or len(rest) < size + 2:
            break
        out += rest[:size]
        raw = rest[size + 2 :]
    return bytes(out)


async def test_a_bus_restart_ends_streams_and_the_resumed_stream_misses_nothing(
    stack: Mesh, nats_server: NatsServer
) -> None:
    gw = await events_gateway(stack)
    async with client(gw.url) as http:
        user = await sign_up(http)
    nc = await nats.connect(stack.settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    events = EventPublisher(nc.jetstream())

    async def publish(index: int) -> int:
        chunk = AiChatChunk(job_id="j", conversation_id="c", message_id="m", index=index, delta="x")
        [seq] = await events.publish([user_channel(user.id)], chunk)
        return seq

    try:
        async with client(gw.url) as http:
            async with open_stream(http, headers=user.headers) as sse:
                first = await publish(0)
                assert (await sse.next()).id == first
                nats_server.stop()
                nats_server.start()
                # Stored while the gateway's live subscription may not be back yet.
                async with asyncio.timeout(30):
                    while True:
                        try:
                            second = await publish(1)
                            break
                        except Exception:  # noqa: BLE001 - the bus is still coming back
                            await asyncio.sleep(0.2)
                # The gateway ends the stream once its connection is back, so nothing depends
                # on a live subscription that may have missed messages.
                async with asyncio.timeout(30):
                    while not sse.ended:
                        await asyncio.sleep(0.05)
            async with open_stream(http, headers={**user.headers, "last-event-id": str(first)}) as sse:
                assert (await sse.next()).id == second
                third = await publish(2)
                assert (await sse.next()).id == third
    finally:
        await nc.close()


async def test_once_the_gateway_starts_to_stop_every_stream_ends_and_new_ones_too(stack: Mesh) -> None:
    """A server stopping gracefully waits for open responses; an EventSource reconnecting on a
    kept-alive connection must not open one that holds it."""
    await stack.app(create_auth(stack.settings))
    app = create_gateway(stack.settings)
    gw = await stack.server(app)
    async with client(gw.url) as http:
        user = await sign_up(http)

        async def ends(stream_timeout: float = 10.0) -> None:
            async with open_stream(http, headers=user.headers) as sse:
                async with asyncio.timeout(stream_timeout):
                    while True:
                        try:
                            await sse.next()
                        except EOFError:
                            return

        open_before = asyncio.create_task(ends())
        await asyncio.sleep(0.5)
        app.end_streams()
        await open_before  # the open stream ended
        await ends()  # and one opened afterwards ends at once
