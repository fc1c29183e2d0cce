"""A client that trickles its request head or body does not hold a connection of the gateway
(`python -m gateway`, with short timeouts set through its settings) for longer than the timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest

from tests.support.natsd import NatsServer
from tests.support.procs import Proc, Procs
from tests.support.rawhttp import bodies_store, closed_by_server, read_answer

HEAD_TIMEOUT = 2.0
BODY_TIMEOUT = 1.0
# Generous: the bound proves the connection is cut, not how fast a loaded machine is.
SLACK = 10.0


@pytest.fixture
async def gateway(procs: Procs) -> Proc:
    auth = procs.start("auth", "auth_svc")
    gw = procs.start(
        "gateway",
        "gateway",
        GATEWAY_KEEP_ALIVE_TIMEOUT=str(HEAD_TIMEOUT),
        GATEWAY_BODY_TIMEOUT=str(BODY_TIMEOUT),
        GATEWAY_BODY_MIN_RATE="64",
    )
    await procs.wait_ready([auth])
    await gw.wait_alive()
    return gw


@pytest.mark.skipif(
    os.environ.get("GATEWAY_SERVER") == "uvicorn",
    reason="uvicorn has no timer for a request head (docs/operations.md, the gateway's ASGI server)",
)
async def test_request_head_sent_a_byte_a_second_is_cut_off(gateway: Proc) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 60
    started = time.monotonic()
    sent = 0
    with contextlib.suppress(OSError):
        for byte in head:
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.5)
            if time.monotonic() - started > HEAD_TIMEOUT + SLACK:
                break
    # The server hung up on the unfinished head before the client got through it.
    assert await asyncio.wait_for(closed_by_server(reader), SLACK) == b""
    assert sent < len(head)
    writer.transport.abort()


async def test_body_trickled_slower_than_the_timeout_gets_408(gateway: Proc) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        b"POST /auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n{"
    )
    await writer.drain()

    async def trickle() -> None:
        with contextlib.suppress(OSError):
            for _ in range(100):
                await asyncio.sleep(BODY_TIMEOUT * 2)
                writer.write(b" ")
                await writer.drain()

    trickler = asyncio.create_task(trickle())
    try:
        status, headers, body = await asyncio.wait_for(read_answer(reader), BODY_TIMEOUT + SLACK)
    finally:
        trickler.cancel()
    assert status == 408
    assert b'"code":"request_timeout"' in body
    assert headers["connection"] == "close"
    writer.transport.abort()


async def test_body_under_the_minimum_rate_gets_408_and_nothing_is_kept(
    gateway: Proc, nats_alone: NatsServer
) -> None:
    """Pieces come just inside the timeout, but on average far under GATEWAY_BODY_MIN_RATE."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        b"POST /auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n{"
    )
    await writer.drain()

    async def trickle() -> None:
        with contextlib.suppress(OSError):
            for _ in range(1000):
                await asyncio.sleep(BODY_TIMEOUT / 4)
                writer.write(b" ")
                await writer.drain()

    trickler = asyncio.create_task(trickle())
    try:
        status, _, body = await asyncio.wait_for(read_answer(reader), BODY_TIMEOUT * 4 + SLACK)
    finally:
        trickler.cancel()
    assert status == 408
    assert b"slower than 64 bytes/s" in body
    assert (await bodies_store(nats_alone.url)).messages == 0
    writer.transport.abort()
