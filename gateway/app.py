"""The gateway: a pure ASGI app that resolves each request against the services' published routes,
checks its caller and body limit, and only then forwards it over the bus."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from chassis import bus as chassis_bus
from chassis import metrics, streams
from chassis.app import nats_check
from chassis.bridge import BusClient
from chassis.context import new_request_id, request_id_var, valid_request_id
from chassis.errors import HTTPError, MethodNotAllowed, NotFound, Unauthorized
from chassis.health import Health, HealthServer
from chassis.openapi import OpenAPI
from chassis.responses import JSONResponse
from chassis.settings import Settings
from gateway import proxy
from gateway.asgi import ClientDisconnected, Message, Receive, Scope, Send, header, send_error
from gateway.auth import GatewayAuthenticator
from gateway.client_address import client_address, parse_networks
from gateway.headers import SecurityHeaders, ui_policy
from gateway.identity import Authenticator
from gateway.openapi import MergedSpec, docs_page
from gateway.plugins import Plugin, default_plugins, matches
from gateway.route_source import RouteSource
from gateway.routes import ROUTES, RouteTable
from gateway.static import StaticFiles
from gateway.unread import BodyTracker, held_open
from proto.health import Liveness, Readiness

log = structlog.get_logger("gateway")
REPO_ROOT = Path(__file__).resolve().parents[1]


def web_root(settings: Settings) -> Path:
    path = Path(settings.web_dir)
    return path if path.is_absolute() else REPO_ROOT / path


def gateway_spec() -> OpenAPI:
    spec = OpenAPI("gateway")
    # Probes answer plain JSON (what load balancers and orchestrators read), not the envelope.
    spec.add("get", "/healthz", "Gateway liveness", tags=("operations",), response=Liveness, envelope=False)
    spec.add(
        "get",
        "/readyz",
        "Gateway readiness: NATS and every service reachable (503 names the failing check)",
        tags=("operations",),
        response=Readiness,
        envelope=False,
        also=(503,),
    )
    return spec


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        routes: Iterable[tuple[str, str]] = ROUTES,
        authenticator: Authenticator | None = None,
        plugins: list[Plugin] | None = None,
    ) -> None:
        self.settings = settings
        self.table = RouteTable(routes)
        self.static = StaticFiles(web_root(settings), lambda scripts: ui_policy(settings, scripts))
        self.health = Health("gateway")
        self.spec = gateway_spec()
        self.auth: Authenticator = authenticator or GatewayAuthenticator(settings, self)
        self.plugins: list[Plugin] = default_plugins(settings) if plugins is None else plugins
        self.trusted_proxies = parse_networks(settings.trusted_proxies)
        self._routes: RouteSource | None = None
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._bus: BusClient | None = None
        self._merged: MergedSpec | None = None
        self._health_server: HealthServer | None = None
        # `/metrics` is not here: it is served on the health port only (HEALTH_PORT).
        # The gateway's own few fixed paths, looked up by path: Starlette's router and exception
        # middleware would cost more than the probe they route (errors are answered in `_http`).
        self.local: dict[str, Route] = {
            route.path: route
            for route in [
                *self.health.probes(),
                Route("/openapi.json", self._openapi),
                Route("/docs", self._docs),
                # Browsers ask for /favicon.ico on pages without an icon link (JSON, errors).
                Route("/favicon.ico", self._favicon),
            ]
        }
        # Looked up first: no service or plugin may claim them.
        for path in self.local:
            if self.table.resolve(path) or any(matches(p, path) for p in self.plugins):
                raise ValueError(f"{path} is the gateway's own path")
        self.headers = SecurityHeaders(settings, docs_page())

    @property
    def nc(self) -> NATS:
        assert self._nc is not None, "gateway not started"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "gateway not started"
        return self._js

    @property
    def bus(self) -> BusClient:
        assert self._bus is not None, "gateway not started"
        return self._bus

    async def startup(self) -> None:
        self._nc = await chassis_bus.connect(self.settings, "gateway")
        self._js = self._nc.jetstream()
        await streams.ensure_all(self._js, self.settings)
        self._bus = BusClient(self._nc, self._js, self.settings)
        self._routes = RouteSource(self._bus, self.table, self.settings.gateway_routes_refresh)
        self._merged = MergedSpec(self._bus, self.table.services(), self.spec)
        self.health.add("nats", lambda: nats_check(self.nc))
        for service in self.table.services():
            self.health.add(f"service:{service}", self._pinger(service))
        await self.auth.start()
        for plugin in self.plugins:
            await plugin.start(self)
        if self.settings.health_port:
            self._health_server = HealthServer(self.health, self.settings.host, self.settings.health_port)
            await self._health_server.start()

    def end_streams(self) -> None:
        """The server starts to stop: the plugins that hold long responses (SSE) end them."""
        for plugin in self.plugins:
            end = getattr(plugin, "end_streams", None)
            if end is not None:
                end()

    async def shutdown(self) -> None:
        if self._health_server is not None:
            await self._health_server.stop()
            self._health_server = None
        for plugin in reversed(self.plugins):
            await plugin.stop()
        await self.auth.stop()
        if self._routes is not None:
            await self._routes.stop()
        if self._nc is not None:
            await chassis_bus.close(self._nc)

    def _pinger(self, service: str) -> Any:
        async def ping() -> None:
            await self.nc.request(f"$SRV.PING.{service}", b"", timeout=1.0)

        return ping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, self.headers.wrap(scope, send))
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:  # No WebSockets: server → user is SSE, user → server is POST.
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = header(scope, b"x-request-id")
        rid = incoming if incoming and valid_request_id(incoming) else new_request_id()
        request_id_var.set(rid)
        started = time.perf_counter()
        state = {"started": False, "status": 500}

        def tracked(message: Message) -> Awaitable[None]:  # no coroutine of its own: as headers.wrap
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
            return send(message)

        body = BodyTracker(scope, receive)
        receive = body.receive
        path: str = scope["path"]
        # Labels from fixed sets: a plugin's prefix, a service, a local path, "static", "unmatched".
        route = metrics.UNMATCHED_ROUTE
        try:
            if (local := self.local.get(path)) is not None:
                route = path
                if local.methods and scope["method"] not in local.methods:
                    allowed = ", ".join(sorted(local.methods))
                    raise MethodNotAllowed(f"{path} answers {allowed}", headers={"Allow": allowed})
                await local.app(scope, receive, tracked)
            elif (plugin := next((p for p in self.plugins if matches(p, path)), None)) is not None:
                route = plugin.prefixes[0]
                await plugin(scope, receive, tracked)
            elif (service := self.table.resolve(path)) is not None:
                route = service
                await self._forward(service, scope, receive, tracked, rid)
            elif scope["method"] in ("GET", "HEAD") and (file := self.static.find(path)) is not None:
                route = "static"
                await self.static.serve(scope, tracked, file)
            else:
                raise NotFound(f"no route for {scope['method']} {path}")
        except HTTPError as exc:
            if not state["started"]:
                settings = self.settings
                if await body.keeps_connection(
                    scope, settings.gateway_body_timeout, settings.gateway_body_min_rate
                ):
                    await send_error(tracked, exc, rid)
                else:
                    exc.headers.setdefault("Connection", "close")
                    await send_error(held_open(tracked), exc, rid)
                    await body.linger()
                    await tracked({"type": "http.response.body", "body": b""})
        except ClientDisconnected:
            state["status"] = 499
        except Exception:
            log.exception("gateway error", path=path, request_id=rid)
            if not state["started"]:
                await send_error(
                    tracked, HTTPError("internal error; the request id identifies it in the logs"), rid
                )
        seconds = time.perf_counter() - started
        metrics.observe_request("gateway", scope["method"], route, state["status"], seconds)

    async def _forward(self, service: str, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        """Route, caller and declared length are checked before a byte of the body is read."""
        assert self._routes is not None, "gateway not started"
        operation = await self._routes.operation(service, scope["method"], scope["path"])
        identity = await self.auth.identify(scope)
        if operation.auth and identity is None:
            raise Unauthorized("sign in first: this endpoint needs an access token or API key")
        await proxy.forward(
            self.bus,
            service,
            scope,
            receive,
            send,
            identity=identity,
            request_id=rid,
            max_body=operation.max_body,
            client=client_address(scope, self.trusted_proxies),
            body_timeout=self.settings.gateway_body_timeout,
            body_min_rate=self.settings.gateway_body_min_rate,
        )

    async def _openapi(self, request: Request) -> Response:
        assert self._merged is not None
        return JSONResponse(await self._merged.document())

    async def _docs(self, request: Request) -> Response:
        return Response(docs_page(), media_type="text/html; charset=utf-8")

    async def _favicon(self, request: Request) -> Response:
        return RedirectResponse("/favicon.svg", status_code=301)


def create_app(settings: Settings, **kwargs: Any) -> Gateway:
    return Gateway(settings, **kwargs)
