"""What the SSE benchmarks run in their own processes.

`python -m bench.ssekit gateway`: the real gateway (EventsPlugin) behind Hypercorn, with an
authenticator that trusts `Bearer user:<id>` (authentication is not what is measured), and
cProfile toggled by SIGUSR1 (start) / SIGUSR2 (stop, dump to $PROFILE_PATH), and heap
snapshots on SIGHUP (`HeapSnapshots`, to $HEAP_PATH).

`python -m bench.ssekit raw`: the floor for delivery, an asyncio server with no framework
(`RawServer`).

`python -m bench.ssekit clients '<json spec>'`: many SSE clients on raw asyncio protocols,
plus optionally one raw NATS subscriber (the baseline). Commands on stdin, one JSON
answer per line on stdout: `open`, `stats`, `reset`, `quit`."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from hypercorn.asyncio import serve
from hypercorn.config import Config

from chassis.errors import Unauthorized
from chassis.events import EVENT_HEADER
from chassis.logging import configure_logging
from chassis.settings import Settings
from gateway.__main__ import tune_gc
from gateway.app import create_app as create_gateway
from gateway.fanout import frame
from proto.identity import Identity
from proto.subjects import live_subject, user_channel


class BenchAuthenticator:
    """Benchmark harness only: `Bearer user:<id>` is user <id>."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def identify(self, scope: Any) -> Identity | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = value.decode("latin-1").partition(" ")[2]
                if token.startswith("user:"):
                    return Identity(user_id=token[5:])
                raise Unauthorized("bad benchmark credential")
        return None


async def bare_sse(scope: Any, receive: Any, send: Any) -> None:
    """The memory floor: Hypercorn holding an SSE response open, and nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": f"{message['type']}.complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
    )
    await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


class RawSse(asyncio.Protocol):
    """One connection of the raw floor server: read the request head, then only write."""

    def __init__(self, server: RawServer) -> None:
        self.server = server
        self.head = b""
        self.subject = ""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.subject:
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        user = self.head.partition(b"Bearer user:")[2].partition(b"\r\n")[0].decode()
        self.subject = live_subject(user_channel(user))
        asyncio.ensure_future(self.server.join(self.subject, self))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.subject:
            self.server.leave(self.subject, self)


class RawServer:
    """The delivery floor for any Python asyncio server on this machine: no HTTP framework,
    no per-connection task; each NATS message is written straight to every follower's
    transport (one `send` per client per event), from one shared subscription per subject."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.followers: dict[str, set[RawSse]] = {}
        self.subs: dict[str, Any] = {}

    async def join(self, subject: str, conn: RawSse) -> None:
        followers = self.followers.setdefault(subject, set())
        followers.add(conn)
        if subject not in self.subs:
            self.subs[subject] = None
            self.subs[subject] = await self.nc.subscribe(subject, cb=self._deliver(followers))
            await self.nc.flush()
        assert conn.transport is not None
        conn.transport.write(RAW_HEAD)

    def leave(self, subject: str, conn: RawSse) -> None:
        self.followers.get(subject, set()).discard(conn)

    @staticmethod
    def _deliver(followers: set[RawSse]) -> Any:
        async def deliver(msg: Any) -> None:
            headers = msg.headers or {}
            sse = frame(int(headers["Nats-Sequence"]), headers.get(EVENT_HEADER, "message"), msg.data)
            for conn in followers:
                if conn.transport is not None:
                    conn.transport.write(sse)

        return deliver


RAW_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n: connected\n\n"


def serve_raw() -> None:
    settings = Settings.from_env()

    async def main() -> None:
        nc = await nats.connect(settings.nats_url)
        raw = RawServer(nc)
        server = await asyncio.get_running_loop().create_server(
            lambda: RawSse(raw), "127.0.0.1", settings.port, backlog=4096
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with server:
            await stop.wait()
        await nc.close()

    tune_gc()
    asyncio.run(main())


def serve_gateway(role: str) -> None:
    settings = Settings.from_env()
    configure_logging("bench-gateway", "warning")
    config = Config()
    config.bind = [f"127.0.0.1:{settings.port}"]
    config.accesslog = None
    config.errorlog = None
    config.backlog = 4096
    app = (
        bare_sse
        if role == "bare"
        else create_gateway(settings, routes=(), authenticator=BenchAuthenticator())
    )

    tune_gc()  # as `python -m gateway` runs, for the baseline too

    async def main() -> None:
        profiler = cProfile.Profile()
        loop = asyncio.get_running_loop()
        pauses = GcPauses()
        gc.callbacks.append(pauses.callback)

        def stop_profile() -> None:
            profiler.disable()
            path = os.environ.get("PROFILE_PATH", "gateway.prof")
            profiler.dump_stats(path)
            Path(path + ".gc.json").write_text(json.dumps(pauses.summary()))

        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGHUP, HeapSnapshots(os.environ.get("HEAP_PATH", "heap")).take)
        loop.add_signal_handler(signal.SIGUSR2, stop_profile)
        await serve(app, config)  # type: ignore[arg-type]

    asyncio.run(main())


class HeapSnapshots:
    """First SIGHUP: start tracing allocations and write `<path>.0`; second: write `<path>.1`
    and stop. Their difference is what was allocated in between and is still alive, each
    block with the stack that allocated it. Tracing starts late so that it slows only what
    is measured."""

    FRAMES = 24

    def __init__(self, path: str) -> None:
        self.path = path
        self.taken = 0

    def take(self) -> None:
        if self.taken == 0:
            tracemalloc.start(self.FRAMES)
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        # Written aside then renamed: the reader polls for the name.
        part = f"{self.path}.{self.taken}.part"
        snapshot.dump(part)
        os.replace(part, f"{self.path}.{self.taken}")
        self.taken += 1
        if self.taken == 2:
            tracemalloc.stop()


class GcPauses:
    """Each time the garbage collector stops the process: (monotonic start, seconds, generation)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.pauses: list[tuple[float, float, int]] = []

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.monotonic()
        else:
            self.pauses.append((self.started, time.monotonic() - self.started, int(info["generation"])))

    def summary(self) -> list[tuple[float, float, int]]:
        return self.pauses


def wall_ns(stamp: str) -> int:
    """`Nats-Time-Stamp` (RFC 3339 with nanoseconds) → ns since the epoch."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    return int(seconds) * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])


class SseClient(asyncio.Protocol):
    """One `GET /events` connection; records each frame's id, arrival time and `delta` field."""

    def __init__(self, request: bytes, sink: Sink) -> None:
        self.request = request
        self.sink = sink
        self.buffer = b""
        self.head = True
        self.frame_id = 0
        self.connected = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        mono = time.monotonic_ns()
        buffer = self.buffer + data
        if self.head:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 200"):
                if not self.connected.done():
                    self.connected.set_exception(ConnectionError(buffer[:200].decode("latin-1")))
                return
            self.head = False
            buffer = buffer[end + 4 :]
        *lines, self.buffer = buffer.split(b"\n")
        for line in lines:
            # Chunked transfer framing (size lines, CRLFs) ends in "\r"; SSE lines never do.
            if not line or line[-1:] == b"\r":
                continue
            if line.startswith(b"id: "):
                seq = int(line[4:])
                if seq <= self.frame_id:  # one channel per client: ids only grow
                    self.sink.duplicates += 1
                self.frame_id = seq
            elif line.startswith(b"data: "):
                self.sink.frame(self.frame_id, line, now, mono)
            elif line == b": connected" and not self.connected.done():
                self.connected.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.lost += 1
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"closed: {exc}"))


class Sink:
    """What every client of one process saw."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.lost = 0
        self.reset()

    def reset(self) -> None:
        self.frames = 0
        self.duplicates = 0
        self.latencies_us: list[int] = []
        self.arrivals: list[tuple[int, int]] = []

    def frame(self, seq: int, line: bytes, wall: int, mono: int) -> None:
        self.frames += 1
        if self.mode == "delta":
            # The publisher put its monotonic clock (ns) in `delta` just before publishing.
            start = line.find(b'"delta":"')
            if start >= 0:
                sent = int(line[start + 9 : line.index(b'"', start + 9)])
                self.latencies_us.append((mono - sent) // 1000)
        elif b'"event":"ai_chat_chunk"' in line:
            self.arrivals.append((seq, wall))


async def run_clients(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    sink = Sink(spec["mode"])
    baseline = Sink(spec["mode"])
    baseline_seen: dict[int, int] = {}
    clients: list[tuple[asyncio.BaseTransport, SseClient]] = []
    nc = None
    if spec.get("nats_url"):
        nc = await nats.connect(spec["nats_url"])

        async def on_live(msg: Any) -> None:
            headers = msg.headers or {}
            seq = int(headers["Nats-Sequence"])
            if spec["mode"] == "delta":
                baseline.frame(seq, b"data: " + msg.data, time.time_ns(), time.monotonic_ns())
            elif headers.get("Event") == "ai_chat_chunk":
                stored = wall_ns(headers["Nats-Time-Stamp"])
                baseline_seen[seq] = stored
                baseline.arrivals.append((seq, time.time_ns()))

        await nc.subscribe(spec["baseline_subject"], cb=on_live)
        await nc.flush()

    async def open_one(user: str) -> None:
        request = (
            f"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer user:{user}\r\n\r\n"
        ).encode()
        transport, client = await loop.create_connection(
            lambda: SseClient(request, sink), "127.0.0.1", spec["port"]
        )
        await asyncio.wait_for(client.connected, 60)
        clients.append((transport, client))

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = line.decode().strip()
        if command == "open":
            users = [u for u in spec["users"] for _ in range(spec["per_user"])]
            started = time.monotonic()
            for i in range(0, len(users), 200):
                await asyncio.gather(*(open_one(u) for u in users[i : i + 200]))
            answer({"open": len(clients), "seconds": time.monotonic() - started})
        elif command == "stats":
            answer(
                {
                    "frames": sink.frames,
                    "lost": sink.lost,
                    "duplicates": sink.duplicates,
                    "latencies_us": sink.latencies_us,
                    "arrivals": sink.arrivals,
                    "baseline_frames": baseline.frames + len(baseline.arrivals),
                    "baseline_latencies_us": baseline.latencies_us,
                    "baseline_arrivals": baseline.arrivals,
                    "stored": baseline_seen,
                }
            )
        elif command == "reset":
            sink.reset()
            baseline.reset()
            baseline_seen.clear()
            answer({"reset": True})
        elif command == "close":
            for transport, _ in clients:
                transport.close()
            clients.clear()
            answer({"closed": True})
        elif command == "quit":
            break
    for transport, _ in clients:
        transport.close()
    if nc is not None:
        await nc.close()


def main() -> None:
    role = sys.argv[1]
    if role in ("gateway", "bare"):
        serve_gateway(role)
    elif role == "raw":
        serve_raw()
    elif role == "clients":
        asyncio.run(run_clients(json.loads(sys.argv[2])))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
