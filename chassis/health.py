"""The SRE endpoints: `/healthz` (alive), `/readyz` (dependencies reachable), `/metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chassis import metrics
from chassis.responses import JSONResponse
from proto.codec import json_encoder
from proto.health import Liveness, Readiness

log = structlog.get_logger("chassis.health")

Check = Callable[[], Awaitable[object]]
CHECK_TIMEOUT = 2.0


class Alive:
    """`GET /healthz` as a plain ASGI app: the answer never changes, so it is built once (probes and
    load balancers ask often, and Starlette's request and response objects would cost more)."""

    def __init__(self, component: str) -> None:
        self.body = json_encoder.encode(Liveness(component=component))
        self.headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else self.body})


class Health:
    def __init__(self, component: str) -> None:
        self.component = component
        self.checks: dict[str, Check] = {}
        # One run of the checks at a time: probes that arrive while one runs share its answer,
        # so a slow dependency is not asked again by every probe (a pile-up of database
        # connections, each cancelled at the timeout, can keep a loaded service unready).
        self._running: asyncio.Task[tuple[bool, dict[str, str]]] | None = None
        self._was_ready: bool | None = None
        self.healthz = Alive(component)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def ready(self) -> tuple[bool, dict[str, str]]:
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run_checks())
        # Shielded: a probe whose client gives up does not cancel the run the others wait on.
        return await asyncio.shield(self._running)

    async def _run_checks(self) -> tuple[bool, dict[str, str]]:
        async def run(check: Check) -> str:
            try:
                await asyncio.wait_for(check(), CHECK_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
                return f"failing: {type(exc).__name__}: {exc}"[:200]
            return "ok"

        names = list(self.checks)
        results = await asyncio.gather(*(run(self.checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        ready = all(r == "ok" for r in results)
        if ready != self._was_ready:
            # Said once per change, so the log names the failing dependency without a line per probe.
            failing = {k: v for k, v in report.items() if v != "ok"}
            if ready:
                log.info("ready", checks=report)
            elif self._was_ready is None:
                log.info("not ready yet", checks=failing)  # starting: its dependencies may be too
            else:
                log.warning("not ready", checks=failing)
            self._was_ready = ready
        return ready, report

    async def readyz(self, request: Request) -> Response:
        ready, report = await self.ready()
        body = Readiness(status="ready" if ready else "not ready", component=self.component, checks=report)
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(self, request: Request) -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    def probes(self) -> list[Route]:
        """`/healthz` and `/readyz`: what a public port may answer too."""
        return [Route("/healthz", self.healthz, methods=["GET"]), Route("/readyz", self.readyz)]

    def routes(self) -> list[Route]:
        """Probes and `/metrics`: the health port's routes."""
        return [*self.probes(), Route("/metrics", self.metrics)]


class HealthServer:
    """A small HTTP server on the component's own port (8001+), for probes and scrapers."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health = health
        self.config = Config()
        self.config.bind = [f"{host}:{port}"]
        self.config.accesslog = None
        self.config.errorlog = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        app = Starlette(routes=self.health.routes())
        self._task = asyncio.create_task(serve(app, self.config, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
