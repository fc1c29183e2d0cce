"""`python -m gateway`: Hypercorn on PORT (HTTP/1.1, h2c prior knowledge, h2 over TLS)."""

from __future__ import annotations

import asyncio
import gc

from hypercorn.asyncio import serve
from hypercorn.config import Config

from chassis.logging import configure_logging
from chassis.settings import Settings
from gateway.app import create_app


def hypercorn_config(settings: Settings) -> Config:
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
    config.graceful_timeout = 5
    # After a restart every SSE client reconnects at once; the default backlog (100) refuses some.
    config.backlog = 4096
    if settings.tls_cert and settings.tls_key:
        config.certfile = settings.tls_cert
        config.keyfile = settings.tls_key
        config.alpn_protocols = ["h2", "http/1.1"]
    return config


def tune_gc() -> None:
    """Full collections of a heap holding thousands of SSE connections paused delivery for up
    to 720 ms (bench/sse.py); collect less often and keep start-up objects out of them."""
    gc.set_threshold(100_000, 50, 100)
    gc.freeze()


def main() -> None:
    settings = Settings.from_env()
    configure_logging("gateway", settings.log_level, settings.log_json)
    tune_gc()
    asyncio.run(serve(create_app(settings), hypercorn_config(settings)))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
