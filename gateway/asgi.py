"""Small pure-ASGI helpers: the gateway is not a Starlette app, to keep the hot path short."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from chassis.errors import HTTPError, PayloadTooLarge
from chassis.responses import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


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


async def body_chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge(f"request body is over {limit} bytes")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
