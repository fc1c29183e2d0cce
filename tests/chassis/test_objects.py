"""Streamed object-store reads and writes against a real JetStream."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js.object_store import ObjectStore

from chassis import objects, streams
from chassis.settings import Settings
from proto.subjects import OBJ_BODIES
from tests.support.natsd import NatsServer


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_put_get_delete_round_trip(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await streams.ensure_all(js, Settings.from_env({}))
    data = os.urandom(3 * objects.CHUNK_SIZE + 17)
    try:
        size = await objects.put_stream(js, OBJ_BODIES, "t-round-trip", pieces(data, 10_000))
        assert size == len(data)
        # The standard client reads what we wrote: same layout, same digest.
        standard = ObjectStore("bodies", "OBJ_bodies", js)
        assert (await standard.get("t-round-trip")).data == data
        got = bytearray()
        async for chunk in objects.get_stream(js, OBJ_BODIES, "t-round-trip"):
            assert len(chunk) <= objects.CHUNK_SIZE
            got += chunk
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        await objects.delete_object(js, OBJ_BODIES, "t-round-trip")
        with pytest.raises(objects.ObjectMissing):
            await objects.object_meta(js, OBJ_BODIES, "t-round-trip")
    finally:
        await nc.close()


async def test_empty_object(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await streams.ensure_all(js, Settings.from_env({}))
    try:
        assert await objects.put_stream(js, OBJ_BODIES, "t-empty", pieces(b"", 1)) == 0
        assert [c async for c in objects.get_stream(js, OBJ_BODIES, "t-empty")] == []
        await objects.delete_object(js, OBJ_BODIES, "t-empty")
    finally:
        await nc.close()


async def test_failed_writer_leaves_no_chunks(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await streams.ensure_all(js, Settings.from_env({}))

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(objects.CHUNK_SIZE * 2)
        raise ConnectionResetError("client went away")

    try:
        before = (await js.stream_info("OBJ_bodies")).state.messages
        with pytest.raises(ConnectionResetError):
            await objects.put_stream(js, OBJ_BODIES, "t-broken", broken())
        assert (await js.stream_info("OBJ_bodies")).state.messages == before
        with pytest.raises(objects.ObjectMissing):
            await objects.object_meta(js, OBJ_BODIES, "t-broken")
    finally:
        await nc.close()
