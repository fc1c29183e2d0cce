"""`python -m bench hostile`: what a hostile client costs the gateway, measured on real processes
(nats-server, auth_svc, the gateway): bytes parked in OBJ_bodies and time to the answer for
anonymous 100 MiB bodies, how long a trickled head or body holds a connection, and which
client address a session records behind a proxy. Prints; never run as a test.

Started with GATEWAY_KEEP_ALIVE_TIMEOUT=5, GATEWAY_BODY_TIMEOUT=2 and TRUSTED_PROXIES=127.0.0.0/8
(a version of the gateway that does not know them ignores them)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import nats
from nats.js import JetStreamContext

from tests.support.natsd import NatsServer
from tests.support.procs import Procs
from tests.support.rawhttp import MiB, post_streaming

BIG = 100 * MiB
PATHS = ("/auth/login", "/auth/no-such-route", "/auth/me", "/auth/logout")


async def stored_while(js: JetStreamContext, work: asyncio.Task[str]) -> tuple[str, float, int]:
    """`work`'s result, the peak bytes OBJ_bodies held meanwhile, and the chunks written to it."""
    peak, first, last = 0, -1, 0
    while True:
        with contextlib.suppress(Exception):
            state = (await js.stream_info("OBJ_bodies")).state
            peak = max(peak, state.bytes)
            first = state.last_seq if first < 0 else first
            last = state.last_seq
        if work.done():
            break
        await asyncio.sleep(0.02)
    return work.result(), peak / MiB, last - max(first, 0)


async def big_body(port: int, path: str) -> str:
    started = time.perf_counter()
    answer = await post_streaming(port, path, BIG)
    return f"{answer.status} after {time.perf_counter() - started:.2f} s"


async def head_trickle(port: int, cap: float) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 500:
            writer.write(bytes([byte]))
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                    break
            if time.monotonic() - started > cap:
                return f"still open after {cap:.0f} s"
    except OSError:
        pass
    finally:
        writer.transport.abort()
    return f"closed by the server after {time.monotonic() - started:.1f} s"


async def body_trickle(port: int, cap: float) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n{"
    )
    started = time.monotonic()

    async def trickle() -> None:
        with contextlib.suppress(OSError):
            while True:
                await asyncio.sleep(3)
                writer.write(b" ")
                await writer.drain()

    task = asyncio.create_task(trickle())
    try:
        line = await asyncio.wait_for(reader.readline(), cap)
        return f"{line.decode().strip() or 'closed'} after {time.monotonic() - started:.1f} s"
    except TimeoutError:
        return f"no answer after {cap:.0f} s, the body still trickling"
    finally:
        task.cancel()
        writer.transport.abort()


async def session_client(url: str) -> list[str]:
    headers = {"x-forwarded-for": "6.6.6.6, 192.0.2.44"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0) as http:
        body = {"email": f"b-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse battery"}
        token = (await http.post("/auth/register", json=body)).json()["data"]["access_token"]
        r = await http.get("/auth/sessions", headers={"authorization": f"Bearer {token}"})
    return [s["client"] for s in r.json()["data"]]


async def run() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    server = NatsServer(folder / "nats").start()
    procs = Procs(folder / "logs", {"NATS_URL": server.url, "DATA_DIR": str(folder / "data")})
    try:
        auth = procs.start("auth", "auth_svc")
        gateway = procs.start(
            "gateway",
            "gateway",
            GATEWAY_KEEP_ALIVE_TIMEOUT="5",
            GATEWAY_BODY_TIMEOUT="2",
            TRUSTED_PROXIES="127.0.0.0/8",
        )
        await procs.wait_ready([auth])
        await gateway.wait_alive()
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        for path in PATHS:
            result, peak, chunks = await stored_while(js, asyncio.create_task(big_body(gateway.port, path)))
            stored = f"OBJ_bodies peak {peak:.1f} MiB, {chunks} chunks written"
            print(f"anonymous 100 MiB POST {path}: {result}; {stored}")
        await nc.close()
        print(
            "session client, X-Forwarded-For '6.6.6.6, 192.0.2.44' from 127.0.0.1:",
            await session_client(gateway.url),
        )
        head, body = await asyncio.gather(head_trickle(gateway.port, 90), body_trickle(gateway.port, 30))
        print("request head, a byte a second:", head)
        print("request body, a byte every 3 s:", body)
    finally:
        procs.stop()
        server.stop()


def main() -> None:
    asyncio.run(run())
