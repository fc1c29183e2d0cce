"""Run an ASGI app's lifespan outside a server (service processes, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import ASGIApp, Message


class LifespanFailed(RuntimeError):
    pass


@contextlib.asynccontextmanager
async def run_lifespan(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {}
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.get_running_loop().create_future()
    stopped = asyncio.get_running_loop().create_future()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            started.set_result(None)
        elif kind == "lifespan.startup.failed":
            started.set_exception(LifespanFailed(message.get("message", "startup failed")))
        elif kind == "lifespan.shutdown.complete":
            stopped.set_result(None)
        elif kind == "lifespan.shutdown.failed":
            stopped.set_exception(LifespanFailed(message.get("message", "shutdown failed")))

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    task: asyncio.Future[None] = asyncio.ensure_future(app(scope, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait([started, task], return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        exc = task.exception()
        raise LifespanFailed(f"startup failed: {exc!r}") from exc
    if started.exception() is not None:
        with contextlib.suppress(BaseException):
            await task
        started.result()
    try:
        yield state
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait([stopped, task], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await task
        if stopped.done():
            stopped.result()  # raises LifespanFailed when the app reported a failed shutdown
        elif task.exception() is not None:
            raise LifespanFailed("shutdown failed") from task.exception()
