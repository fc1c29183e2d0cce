"""An SSE client for tests: reads `text/event-stream` frames off a real HTTP response."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.js import JetStreamContext

from auth_svc.app import create_app as create_auth
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from proto.subjects import STREAM_EVENTS
from tests.support.mesh import Mesh, RunningServer, with_health_port


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: Any
    # When the frame was read off the wire (time.monotonic()), for tests that measure latency.
    received_at: float = field(default_factory=time.monotonic)


@dataclass
class SseStream:
    response: httpx.Response
    events: asyncio.Queue[SseEvent | None] = field(default_factory=asyncio.Queue)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    ended: bool = False

    async def next(self, timeout: float = 20.0) -> SseEvent:
        event = await asyncio.wait_for(self.events.get(), timeout)
        if event is None:
            raise EOFError("the stream ended")
        return event

    async def until(self, name: str, timeout: float = 30.0) -> list[SseEvent]:
        """Every event up to and including the first named `name`."""
        seen: list[SseEvent] = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                seen.append(event)
                if event.event == name:
                    return seen

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        data: list[str] = []
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if data or fields:
                        seq = fields.get("id")
                        text = "\n".join(data)
                        await self.events.put(
                            SseEvent(
                                int(seq) if seq else None,
                                fields.get("event", "message"),
                                json.loads(text) if text else None,
                            )
                        )
                    fields, data = {}, []
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data":
                        data.append(value)
                    elif name == "retry":
                        self.retry = int(value)
                    else:
                        fields[name] = value
        except (httpx.ReadError, httpx.RemoteProtocolError):
            pass
        finally:
            self.ended = True
            await self.events.put(None)


@contextlib.asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[SseStream]:
    """GET /events; the response must be 200 `text/event-stream`."""
    async with http.stream("GET", "/events", params=params, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"GET /events → {response.status_code}: {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = SseStream(response)
        reader = asyncio.create_task(stream._read())
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def events_gateway(stack: Mesh, settings: Settings | None = None) -> RunningServer:
    """auth_svc and a gateway with its real authenticator (users come from `sign_up`) and its
    own health port (`health_url`, where `/metrics` is)."""
    settings = settings or stack.settings
    await stack.app(create_auth(settings))
    return await stack.server(create_gateway(with_health_port(settings)))


async def stored_events(js: JetStreamContext, subject: str) -> list[dict[str, Any]]:
    """Every event the EVENTS stream holds on `subject` (`events.user.<id>`, …), oldest first."""
    info = await js.stream_info(STREAM_EVENTS, subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    sub = await js.subscribe(subject, stream=STREAM_EVENTS, ordered_consumer=True)
    out: list[dict[str, Any]] = []
    try:
        while len(out) < count:
            out.append(json.loads((await sub.next_msg(timeout=10)).data))
    finally:
        await sub.unsubscribe()
    return out
