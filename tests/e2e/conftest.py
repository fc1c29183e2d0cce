"""Fixtures for end-to-end tests: the mesh as real processes on loopback (`tests.support.procs`),
a 3-node NATS cluster whose nodes can be killed, and a PostgreSQL the test owns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import httpx
import nats
import nats.errors
import pytest

from tests.e2e.postgres import OwnPostgres
from tests.support.cluster import Cluster, Node
from tests.support.ports import free_port
from tests.support.procs import Procs


class MonitoredCluster(Cluster):
    """The test cluster with each node's monitoring port, to see which client is on which node."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.monitor = {node.name: free_port() for node in self.nodes}

    def _config(self, node: Node) -> Path:
        conf = super()._config(node)
        with open(conf, "a") as out:
            out.write(f"http: 127.0.0.1:{self.monitor[node.name]}\n")
        return conf

    async def lead_from(self, node: Node, streams: Iterable[str]) -> dict[str, str]:
        """Make `node` the leader of `streams` and of their consumers
        (a leader stepdown with a preferred placement), so that killing it makes every one of them
        elect a new leader: the worst case for a node loss. Returns who leads what."""
        want = json.dumps({"placement": {"preferred": node.name}}).encode()
        nc = await nats.connect(self.urls.split(","))
        try:
            js = nc.jetstream()

            async def lead(what: str, leader: Callable[[], Awaitable[str | None]], stepdown: str) -> str:
                deadline = time.monotonic() + 30
                current: str | None = None
                while time.monotonic() < deadline:
                    with contextlib.suppress(nats.errors.Error, TimeoutError):
                        current = await leader()
                        if current == node.name:
                            return current
                        await nc.request(stepdown, want, timeout=5)
                    await asyncio.sleep(0.5)
                raise AssertionError(f"{node.name} did not become the leader of {what} (leader: {current})")

            async def meta() -> str | None:
                async with httpx.AsyncClient(timeout=5.0) as http:
                    r = await http.get(f"http://127.0.0.1:{self.monitor[node.name]}/jsz")
                leader: str | None = (r.json().get("meta_cluster") or {}).get("leader")
                return leader

            # The meta leader only moves by a system-account request: it is reported, not chosen.
            leaders = {"meta layer (not chosen)": await meta() or "?"}
            for stream in streams:

                async def stream_leader(stream: str = stream) -> str | None:
                    cluster = (await js.stream_info(stream)).cluster
                    return cluster.leader if cluster else None

                leaders[stream] = await lead(
                    stream, stream_leader, f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}"
                )
                for consumer in await js.consumers_info(stream):
                    name = consumer.name

                    async def consumer_leader(stream: str = stream, name: str = name) -> str | None:
                        cluster = (await js.consumer_info(stream, name)).cluster
                        return cluster.leader if cluster else None

                    leaders[f"{stream}/{name}"] = await lead(
                        f"{stream}/{name}",
                        consumer_leader,
                        f"$JS.API.CONSUMER.LEADER.STEPDOWN.{stream}.{name}",
                    )
            return leaders
        finally:
            await nc.close()

    async def clients(self, node: Node) -> list[str]:
        """The names of the client connections `node` holds (`chassis.bus.connect` names them)."""
        async with httpx.AsyncClient(timeout=5.0) as http:
            r = await http.get(f"http://127.0.0.1:{self.monitor[node.name]}/connz", params={"limit": 1024})
        return sorted(c.get("name", "") for c in r.json().get("connections") or [])


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[MonitoredCluster]:
    c = MonitoredCluster(tmp_path / "nats")
    try:
        await c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Component processes of one test (logs in `<tmp>/logs`), all stopped when it ends."""
    group = Procs(tmp_path / "logs", {"DATA_DIR": str(tmp_path / "data")})
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    pg = OwnPostgres(tmp_path / "pg")
    try:
        yield pg
    finally:
        pg.close()
