"""NATS connection and idempotent JetStream setup (streams, consumers, buckets)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from chassis.settings import Settings

log = structlog.get_logger("chassis.bus")

# JetStream's error code for "stream name already in use with a different configuration".
STREAM_CONFIG_MISMATCH = 10058


async def connect(
    settings: Settings,
    name: str,
    *,
    on_reconnected: Callable[[], Awaitable[None]] | None = None,
    **options: Any,
) -> NATS:
    """Connect with reconnects that never give up: a bus restart must not end a process.

    `on_reconnected` runs after each reconnect (e.g. to end live streams that may have missed
    messages while the connection was down)."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=repr(exc))

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")
        if on_reconnected is not None:
            await on_reconnected()

    servers = [s.strip() for s in settings.nats_url.split(",") if s.strip()]
    return await nats.connect(
        servers=servers,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        **options,
    )


async def close(nc: NATS, timeout: float = 5.0) -> None:
    """Close at shutdown even when the server is gone (close() then raises or waits on a dead socket)."""
    try:
        await asyncio.wait_for(nc.close(), timeout)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        log.warning("nats connection closed uncleanly", error=repr(exc))


async def ensure_stream(js: JetStreamContext, config: api.StreamConfig) -> api.StreamInfo:
    try:
        return await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_CONFIG_MISMATCH:
            raise
        return await js.update_stream(config)


async def ensure_kv(js: JetStreamContext, config: api.KeyValueConfig) -> KeyValue:
    try:
        return await js.create_key_value(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_CONFIG_MISMATCH:
            raise
        return await js.key_value(config.bucket)


async def ensure_object_store(js: JetStreamContext, config: api.ObjectStoreConfig) -> ObjectStore:
    assert config.bucket is not None
    try:
        return await js.create_object_store(config.bucket, config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_CONFIG_MISMATCH:
            raise
        return await js.object_store(config.bucket)


async def ensure_consumer(js: JetStreamContext, stream: str, config: api.ConsumerConfig) -> api.ConsumerInfo:
    """Create or update a durable consumer (add_consumer is create-or-update on the server)."""
    return await js.add_consumer(stream, config)
