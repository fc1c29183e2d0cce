"""`create_service_app()`: the Starlette app of a service, with the lifespan that holds
the NATS connection, the database pool, the bridge subscription and the health server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chassis import bus, db, streams
from chassis.bridge import BridgeServer, BusClient
from chassis.errors import HTTPError, error_for_status
from chassis.health import Health, HealthServer
from chassis.openapi import OpenAPI
from chassis.responses import JSONResponse, error_response
from chassis.settings import Settings
from proto.subjects import RPC_PREFIX


@dataclass
class ServiceContext:
    """What a service's `setup` hook gets: connections, settings, and `state` for handlers."""

    name: str
    settings: Settings
    nc: NATS
    js: JetStreamContext
    bus: BusClient
    health: Health
    pool: asyncpg.Pool | None = None
    state: dict[str, Any] = field(default_factory=dict)


Setup = Callable[[ServiceContext], contextlib.AbstractAsyncContextManager[None]]


def create_service_app(
    name: str,
    settings: Settings,
    routes: Sequence[BaseRoute],
    *,
    spec: OpenAPI | None = None,
    setup: Setup | None = None,
    migrations: Path | None = None,
    bridge: bool = True,
) -> Starlette:
    """A service: `routes` served over the bus as `http.<name>`, health on `HEALTH_PORT`, and
    `spec` (its title) with the operations its routes describe at `/openapi.json`."""

    all_routes = list(routes)
    if spec is not None:
        document = spec.document(all_routes)

        async def openapi(_: Request) -> Response:
            return JSONResponse(document)

        all_routes.append(Route("/openapi.json", openapi, include_in_schema=False))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        nc = await bus.connect(settings, name)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(bus.close, nc)
            js = nc.jetstream()
            await streams.ensure_all(js, settings)
            health = Health(name)
            health.add("nats", lambda: nats_check(nc))
            pool = None
            if settings.database_url and migrations is not None:
                pool = await db.create_pool(
                    settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
                )
                stack.push_async_callback(pool.close)
                await db.migrate(pool, name, migrations)
                health.add("database", lambda: pool.fetchval("SELECT 1"))
            ctx = ServiceContext(
                name, settings, nc, js, BusClient(nc, js, settings, prefix=RPC_PREFIX), health, pool
            )
            ctx.state["ctx"] = ctx
            if setup is not None:
                await stack.enter_async_context(setup(ctx))
            if bridge:
                server = BridgeServer(nc, js, name, app, settings, state=ctx.state)
                await server.start()
                stack.push_async_callback(server.stop)
            if settings.health_port:
                health_server = HealthServer(health, settings.host, settings.health_port)
                await health_server.start()
                stack.push_async_callback(health_server.stop)
            app.state.ctx = ctx
            yield ctx.state

    return Starlette(
        routes=all_routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _starlette_error, HTTPError: _http_error, Exception: _crash},
    )


async def nats_check(nc: NATS) -> None:
    if not nc.is_connected:
        raise ConnectionError("not connected to NATS")
    await nc.flush(timeout=1)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: f"no route for {request.method} {request.url.path}", 405: "method not allowed"}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(error_for_status(exc.status_code, message))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return error_response(exc)


async def _crash(request: Request, exc: Exception) -> Response:
    return error_response(HTTPError("internal error; the request id identifies it in the logs"))
