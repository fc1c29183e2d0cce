"""Small pure-ASGI helpers: the gateway is not a Starlette app, to keep the hot path short."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

# The ASGI types are Starlette's, re-exported so gateway modules import them from one place.
from starlette.types import Message as Message
from starlette.types import Receive as Receive
from starlette.types import Scope as Scope
from starlette.types import Send as Send

from chassis.errors import HTTPError, PayloadTooLarge, RequestTimeout
from chassis.responses import error_body


class ClientDisconnected(Exception):
    pass


def header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    hdrs = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    hdrs += headers or []
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, exc: HTTPError, request_id: str) -> None:
    extra = [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    extra.append((b"x-request-id", request_id.encode()))
    await send_bytes(
        send, exc.status, error_body(exc.status, exc.code, exc.message, exc.details, request_id), extra
    )


async def body_chunks(
    receive: Receive, limit: int, *, timeout: float | None = None, min_rate: int = 0
) -> AsyncIterator[bytes]:
    """The request body, refused (413) past `limit` bytes, and (408) when no piece comes for
    `timeout` seconds or, once `timeout` has passed, the average rate is under `min_rate` bytes/s."""
    seen = 0
    started = time.monotonic()
    while True:
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            raise RequestTimeout(f"no request body received for {timeout:g} s") from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge(f"request body is over {limit} bytes", details={"limit": limit})
        elapsed = time.monotonic() - started
        if min_rate and timeout and elapsed > timeout and seen < min_rate * elapsed:
            raise RequestTimeout(f"request body arrives slower than {min_rate} bytes/s")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
