"""A work-queue stream of the chassis' consumer tests (`tests/chassis/conftest.py` adds it)."""

from __future__ import annotations

from nats.aio.client import Client as NATS

STREAM = "TESTWORK"
SUBJECT = "testwork.items"


async def publish(nc: NATS, *payloads: bytes) -> None:
    for p in payloads:
        await nc.jetstream().publish(SUBJECT, p)


async def pending(nc: NATS) -> int:
    return int((await nc.jetstream().stream_info(STREAM)).state.messages)
