"""What becomes of a request body the gateway refused before reading it all (HTTP/1 only: an
HTTP/2 stream ends on its own). A small announced body is read and dropped before the answer,
so the connection stays usable. Anything else gets its answer at once with `Connection: close`
(no leftover is read as a next request), then a short lingering read before the close: closing
on unread bytes sends a reset, which can destroy the answer before the client reads it."""

from __future__ import annotations

import asyncio
import contextlib

from chassis.errors import HTTPError
from gateway.asgi import ClientDisconnected, Message, Receive, Scope, Send, body_chunks, header

# Bytes of a refused body read and dropped (never stored) to keep its connection.
DRAIN_LIMIT = 4 * 1024 * 1024
# The lingering read before a close: at most this long and this many bytes, all dropped.
LINGER_SECONDS = 2.0
LINGER_LIMIT = 16 * 1024 * 1024


class BodyTracker:
    """`receive`, noting whether the body has been read to its end."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._receive = receive
        self.touched = False
        self.done = not _announces_body(scope)

    async def receive(self) -> Message:
        message = await self._receive()
        self.touched = True
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            self.done = True
        return message

    async def keeps_connection(self, scope: Scope, timeout: float, min_rate: int) -> bool:
        """After a refusal: True when nothing of the body is left unread (drained if small)."""
        if self.done:
            return True
        length = header(scope, b"content-length")
        if self.touched or length is None or not length.isdigit() or int(length) > DRAIN_LIMIT:
            return False
        try:
            async for _ in body_chunks(self.receive, DRAIN_LIMIT, timeout=timeout, min_rate=min_rate):
                pass
        except (HTTPError, ClientDisconnected):
            return False
        return True

    async def linger(self) -> None:
        if self.done:
            return
        seen = 0
        with contextlib.suppress(TimeoutError, HTTPError, ClientDisconnected):
            async with asyncio.timeout(LINGER_SECONDS):
                while not self.done and seen < LINGER_LIMIT:
                    seen += len((await self.receive()).get("body", b""))


def held_open(send: Send) -> Send:
    """`send` that leaves the response unfinished, for a lingering read before it ends."""

    async def held(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "more_body": True}
        await send(message)

    return held


def _announces_body(scope: Scope) -> bool:
    if scope.get("http_version") not in ("1.0", "1.1"):
        return False
    length = header(scope, b"content-length")
    return (length is not None and length != "0") or header(scope, b"transfer-encoding") is not None
