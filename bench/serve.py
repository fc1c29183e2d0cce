"""Processes a benchmark starts: `python -m bench.serve {service|gateway|direct}`."""

from __future__ import annotations

import asyncio
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request

from chassis.app import create_service_app
from chassis.logging import configure_logging
from chassis.openapi import OpenAPI
from chassis.routing import route
from chassis.runner import run
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from gateway.routes import ROUTES

BENCH_ROUTES = (*ROUTES, ("/bench", "bench"))


def bench_app(settings: Settings) -> Starlette:
    async def hello(request: Request) -> dict[str, object]:
        return {"hello": "world", "n": 42}

    spec = OpenAPI("bench")  # the gateway routes only what a service's document lists
    spec.add("get", "/bench/hello", "Say hello")
    return create_service_app("bench", settings, [route("/bench/hello", hello)], spec=spec)


async def hypercorn(app: object, port: int) -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_max_requests = 1_000_000
    await serve(app, config)  # type: ignore[arg-type]


def main() -> None:
    role = sys.argv[1]
    settings = Settings.from_env()
    configure_logging(f"bench-{role}", "warning")
    if role == "service":
        asyncio.run(run("bench", bench_app(settings)))
    elif role == "gateway":
        asyncio.run(hypercorn(create_gateway(settings, routes=BENCH_ROUTES), settings.port))
    elif role == "direct":
        asyncio.run(hypercorn(bench_app(settings), settings.port))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
