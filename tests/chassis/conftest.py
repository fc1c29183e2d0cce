from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import api

from tests.chassis.work_queue import STREAM, SUBJECT
from tests.support.natsd import NatsServer


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    """A connection, the work-queue stream of the consumer tests added."""
    conn = await nats.connect(nats_server.url)
    await conn.jetstream().add_stream(
        api.StreamConfig(name=STREAM, subjects=[SUBJECT], retention=api.RetentionPolicy.WORK_QUEUE)
    )
    yield conn
    await conn.close()
