"""The mesh's streams at replicas 3 on a real 3-node cluster keep working when a node dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from chassis import streams
from chassis.settings import Settings
from proto.subjects import JOBS_CHAT, STREAM_JOBS
from tests.support.cluster import Cluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield await c.start()
    finally:
        c.stop()


async def test_replicated_streams_survive_a_node_loss(cluster: Cluster) -> None:
    settings = Settings.from_env({}, nats_url=cluster.urls, js_replicas=3)
    nc = await nats.connect(cluster.urls.split(","))
    try:
        js = nc.jetstream()
        await streams.ensure_all(js, settings)
        info = await js.stream_info(STREAM_JOBS)
        assert info.config.num_replicas == 3
        await js.publish(JOBS_CHAT, b"before")
        cluster.kill(cluster.nodes[0])
        await cluster.wait_jetstream()
        # The stream elects a new leader after the meta leader: publish until one acks it. A
        # publish whose ack was lost may still be stored: its message id makes the retry a duplicate.
        ack = None
        deadline = asyncio.get_running_loop().time() + 60
        while ack is None and asyncio.get_running_loop().time() < deadline:
            try:
                ack = await js.publish(JOBS_CHAT, b"during", timeout=2, headers={"Nats-Msg-Id": "during"})
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(0.25)
        assert ack is not None and ack.seq == 2
        cluster.start_node(cluster.nodes[0])
        await cluster.wait_jetstream()
        # The restarted node catches up while the stream's leader may move: ask until it answers.
        messages = None
        deadline = asyncio.get_running_loop().time() + 60
        while messages is None and asyncio.get_running_loop().time() < deadline:
            try:
                messages = (await js.stream_info(STREAM_JOBS)).state.messages
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(0.5)
        assert messages == 2
    finally:
        await nc.close()
