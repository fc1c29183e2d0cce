"""Run the mesh's components in the test's event loop: services through their lifespan,
the gateway behind a real listener on a free port, under the ASGI server `GATEWAY_SERVER`
names (Hypercorn unless set: `GATEWAY_SERVER=granian pytest tests/gateway` runs them under Granian)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
from starlette.types import ASGIApp

from chassis.lifespan import run_lifespan
from chassis.settings import Settings
from gateway.servers import serve
from tests.support.ports import free_port

# The server RunningServer runs the gateway under; uvicorn alone has no HTTP/2.
GATEWAY_SERVER = os.environ.get("GATEWAY_SERVER") or "hypercorn"
speaks_http2 = GATEWAY_SERVER != "uvicorn"


class RunningApp:
    """A component started through its lifespan; `stop()`/`start()` restart it in place."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._cm: contextlib.AbstractAsyncContextManager[dict[str, Any]] | None = None

    async def start(self) -> RunningApp:
        cm = run_lifespan(self.app)
        self.state = await cm.__aenter__()
        self._cm = cm
        return self

    async def stop(self) -> None:
        cm, self._cm = self._cm, None
        if cm is not None:
            await cm.__aexit__(None, None, None)


class RunningServer:
    """An ASGI app behind the gateway's server on 127.0.0.1:<free port> (HTTP/1.1; h2c except
    under uvicorn), with the app's own settings when it has them (the gateway's edge limits)."""

    def __init__(self, app: ASGIApp, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        """The gateway's health server (`/healthz`, `/readyz`, `/metrics`): its HEALTH_PORT."""
        port = getattr(getattr(self.app, "settings", None), "health_port", 0)
        assert port, "this server has no health port (give its settings a health_port)"
        return f"http://127.0.0.1:{port}"

    async def start(self) -> RunningServer:
        own = getattr(self.app, "settings", None)
        settings = msgspec.structs.replace(
            own if isinstance(own, Settings) else Settings(),
            host="127.0.0.1",
            port=self.port,
            gateway_server=GATEWAY_SERVER,
        )
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(serve(self.app, settings, self._stop.wait, graceful=1.0))
        for _ in range(200):
            if self._task.done():
                self._task.result()
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return self
        raise RuntimeError("server did not start")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None


class Mesh:
    """Components started by one test, all stopped when it ends."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._running: list[RunningApp | RunningServer] = []

    async def app(self, app: ASGIApp) -> RunningApp:
        running = await RunningApp(app).start()
        self._running.append(running)
        return running

    async def server(self, app: ASGIApp, port: int | None = None) -> RunningServer:
        running = await RunningServer(app, port).start()
        self._running.append(running)
        return running

    async def close(self) -> None:
        for running in reversed(self._running):
            await running.stop()


@contextlib.asynccontextmanager
async def mesh(settings: Settings) -> AsyncIterator[Mesh]:
    m = Mesh(settings)
    try:
        yield m
    finally:
        await m.close()


def client(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=30.0, **kwargs)


def with_health_port(settings: Settings) -> Settings:
    """`settings` with a free health port: give it to one component only (the gateway)."""
    return msgspec.structs.replace(settings, health_port=free_port())


async def metric(health_url: str, name: str) -> float:
    """One unlabelled sample from a health server's `/metrics`."""
    async with httpx.AsyncClient(base_url=health_url, timeout=10.0) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")
