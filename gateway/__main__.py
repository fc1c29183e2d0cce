"""`python -m gateway`: the gateway on PORT under the server GATEWAY_SERVER names (gateway/servers.py),
until SIGTERM or SIGINT, which let requests in progress finish."""

from __future__ import annotations

import asyncio
import gc
import signal

import structlog

from chassis.logging import configure_logging
from chassis.settings import Settings
from gateway.app import create_app
from gateway.servers import loop_factory, serve

log = structlog.get_logger("gateway")


def tune_gc() -> None:
    """Full collections of a heap holding thousands of SSE connections paused delivery for up
    to 720 ms (bench/sse.py); collect less often and keep start-up objects out of them."""
    gc.set_threshold(100_000, 50, 100)
    gc.freeze()


async def run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("gateway starting", server=settings.gateway_server, host=settings.host, port=settings.port)
    await serve(create_app(settings), settings, stop.wait)


def main() -> None:
    settings = Settings.from_env()
    configure_logging("gateway", settings.log_level, settings.log_json)
    tune_gc()
    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
        runner.run(run(settings))


if __name__ == "__main__":
    main()
