"""The gateway's ASGI server, chosen by `GATEWAY_SERVER`: Hypercorn (the default: HTTP/1.1, h2c
and h2 in one process), uvicorn (HTTP/1.1 only) or Granian (HTTP/1.1, h2c, h2).

Each runs the app in the caller's event loop until `shutdown_trigger` returns, configured from
the same settings; docs/operations.md ("The gateway's ASGI server") maps each setting to each
server and names what a server lacks. `python -m gateway` and the tests start the gateway here."""

from __future__ import annotations

import asyncio
import contextlib
import typing
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from chassis.settings import Settings
from gateway.asgi import Receive, Scope, Send

SERVERS: tuple[str, ...] = typing.get_args(typing.get_type_hints(Settings)["gateway_server"])
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Trigger = Callable[[], Awaitable[object]]

# Seconds in-flight requests get to finish once the gateway is told to stop.
GRACEFUL_TIMEOUT = 5.0
# After a restart every SSE client reconnects at once; a small backlog (100) refuses some.
BACKLOG = 4096
# Granian's cap on requests in progress per worker; an open SSE stream is one, for hours.
GRANIAN_MAX_REQUESTS = 1_000_000


async def serve(
    app: ASGIApp, settings: Settings, shutdown_trigger: Trigger, graceful: float = GRACEFUL_TIMEOUT
) -> None:
    """Serve `app` until `shutdown_trigger` returns, then give requests in progress `graceful`
    seconds to finish."""

    async def stopping() -> None:
        await shutdown_trigger()
        _end_streams(app)

    await RUNNERS[settings.gateway_server](app, settings, stopping, graceful)


def loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop under uvicorn and Granian (their own default when it is installed); Hypercorn's
    asyncio loop otherwise (uvloop changed nothing for it, bench/REPORT.md)."""
    if settings.gateway_server == "hypercorn":
        return None
    import uvloop

    return uvloop.new_event_loop


def _end_streams(app: ASGIApp) -> None:
    """End the app's SSE streams as the server starts to stop (a clean end: clients reconnect to
    another replica with Last-Event-ID). Every server waits for open responses before the app's
    lifespan shutdown, Granian without a time limit, so a stream left open would hold it."""
    end = getattr(app, "end_streams", None)  # the Gateway's; a bare app has none
    if end is not None:
        end()


async def _hypercorn(app: ASGIApp, settings: Settings, shutdown_trigger: Trigger, graceful: float) -> None:
    config = hypercorn_config(settings, graceful)
    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]


def hypercorn_config(settings: Settings, graceful: float = GRACEFUL_TIMEOUT) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = None
    # Hypercorn's one timer for an idle connection and for a request head still arriving, so a
    # client trickling its headers is closed after it. Hypercorn's `read_timeout` is left unset: it
    # would also close SSE streams, whose clients send nothing; body reads are timed by the gateway
    # itself (GATEWAY_BODY_TIMEOUT, GATEWAY_BODY_MIN_RATE).
    config.keep_alive_timeout = settings.gateway_keep_alive_timeout
    config.h11_max_incomplete_size = settings.gateway_max_header_bytes
    # Hypercorn closes a connection after 1,000 requests by default; API clients keep theirs.
    config.keep_alive_max_requests = 100_000
    config.graceful_timeout = graceful
    config.backlog = BACKLOG
    if tls := _tls(settings):
        config.certfile, config.keyfile = tls
        config.alpn_protocols = ["h2", "http/1.1"]
    return config


# uvicorn and Granian are imported only when chosen.
async def _uvicorn(app: ASGIApp, settings: Settings, shutdown_trigger: Trigger, graceful: float) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # stopped by shutdown_trigger, never by uvicorn's own signal handlers

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # The gateway decides whose X-Forwarded-For to believe (TRUSTED_PROXIES), not uvicorn.
        proxy_headers=False,
        # uvicorn's idle keep-alive timer; it has no timer for a request head still arriving.
        timeout_keep_alive=int(settings.gateway_keep_alive_timeout),
        timeout_graceful_shutdown=max(1, round(graceful)),
        backlog=BACKLOG,
        ssl_certfile=tls[0] if (tls := _tls(settings)) else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = Server(config)
    await _until(server.serve(), shutdown_trigger, lambda: setattr(server, "should_exit", True), graceful)


async def _granian(app: ASGIApp, settings: Settings, shutdown_trigger: Trigger, graceful: float) -> None:
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server.embed import Server

    tls = _tls(settings)
    server = Server(
        app,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,  # HTTP/1.1 and h2c by prior knowledge; h2 by ALPN over TLS
        websockets=False,
        backlog=BACKLOG,
        backpressure=GRANIAN_MAX_REQUESTS,
        http1_settings=HTTP1Settings(
            # Granian's timer for a request head (also between keep-alive requests), in ms.
            header_read_timeout=int(settings.gateway_keep_alive_timeout * 1000),
            # Its read buffer, which holds the request head: hyper's floor is 8 KiB.
            max_buffer_size=max(8192, settings.gateway_max_header_bytes),
        ),
        log_level=LogLevels.warning,
        # Granian's records go to the root logger, formatted like ours (chassis.logging).
        log_dictconfig={"loggers": {"_granian": {"handlers": [], "propagate": True}}},
        ssl_cert=Path(tls[0]) if tls else None,
        ssl_key=Path(tls[1]) if tls else None,
        # Granian's default floor is TLS 1.3; Hypercorn and uvicorn accept TLS 1.2 clients too.
        ssl_protocol_min=SSLProtocols.tls12,
    )
    await _until(server.serve(), shutdown_trigger, server.stop, graceful)


def _tls(settings: Settings) -> tuple[str, str] | None:
    """(certificate, key) when both are set: TLS on the gateway's port."""
    return (settings.tls_cert, settings.tls_key) if settings.tls_cert and settings.tls_key else None


async def _until(
    serving: Awaitable[None], shutdown_trigger: Trigger, stop: Callable[[], object], graceful: float
) -> None:
    """Run `serving`; when `shutdown_trigger` returns, call `stop` and give the server `graceful`
    seconds (and one more for its own clean-up) before cutting it off: Granian's embedded server
    has no limit of its own."""
    task = asyncio.ensure_future(serving)
    trigger = asyncio.ensure_future(shutdown_trigger())
    try:
        await asyncio.wait({task, trigger}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            stop()
            await asyncio.wait({task}, timeout=graceful + 1.0)
        if task.done():
            await task
    finally:
        trigger.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


RUNNERS: dict[str, Callable[[ASGIApp, Settings, Trigger, float], Awaitable[None]]] = {
    "hypercorn": _hypercorn,
    "uvicorn": _uvicorn,
    "granian": _granian,
}
