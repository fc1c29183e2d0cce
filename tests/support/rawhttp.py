"""HTTP/1.1 over a raw socket, for what an HTTP client library will not do: send a body while
reading the answer, count how much of it went out, trickle bytes, see the server hang up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import nats

MiB = 1024 * 1024
CHUNK = b"x" * (64 * 1024)


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    # Body bytes the client had written when the answer came (the rest was never read).
    sent: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def post_streaming(
    port: int, path: str, size: int, headers: dict[str, str] | None = None, timeout: float = 60.0
) -> RawAnswer:
    """POST `size` bytes declared in Content-Length, writing them while waiting for the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    hdrs = {
        "host": "test",
        "content-type": "application/json",
        "content-length": str(size),
        **(headers or {}),
    }
    writer.write(
        f"POST {path} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()).encode()
    )
    writer.write(b"\r\n")
    sent = 0

    async def push() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):
            while sent < size:
                piece = CHUNK[: size - sent]
                writer.write(piece)
                await writer.drain()
                sent += len(piece)

    pusher = asyncio.create_task(push())
    try:
        status, answer_headers, body = await asyncio.wait_for(read_answer(reader), timeout)
        return RawAnswer(status, answer_headers, body, sent)
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pusher
        # abort(), not close(): close() would wait to flush what the server never reads.
        writer.transport.abort()


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = bytearray()
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            out += chunk
    return bytes(out)


@dataclass
class StoreCount:
    """What the request-body object store (OBJ_bodies) holds now, and ever held (last sequence)."""

    messages: int
    last_seq: int


async def bodies_store(nats_url: str) -> StoreCount:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info("OBJ_bodies")
        return StoreCount(int(info.state.messages), int(info.state.last_seq))
    finally:
        await nc.close()
