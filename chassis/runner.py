"""`python -m <component>`: configure logs, run the app's lifespan until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp

from chassis.lifespan import run_lifespan
from chassis.logging import configure_logging
from chassis.settings import Settings


def main(component: str, factory: Callable[[Settings], ASGIApp]) -> None:
    settings = Settings.from_env()
    configure_logging(component, settings.log_level, settings.log_json)
    asyncio.run(run(component, factory(settings)))


async def run(component: str, app: ASGIApp) -> None:
    log = structlog.get_logger(component)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with run_lifespan(app):
        log.info("started")
        await stop.wait()
        log.info("stopping")
    log.info("stopped")
