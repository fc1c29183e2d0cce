"""deploy/nats: the configs load, and the permissions keep each component to its role."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from chassis import streams
from chassis.settings import Settings
from tests.support.natsd import nats_binary, wait_port
from tests.support.ports import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
PASSWORDS = {
    "NATS_GATEWAY_PASSWORD": "gw-secret",
    "NATS_SERVICE_PASSWORD": "svc-secret",
    "NATS_WORKER_PASSWORD": "wk-secret",
    "NATS_SYS_PASSWORD": "sys-secret",
}


def env(store: Path, name: str = "n1") -> dict[str, str]:
    return {**os.environ, **PASSWORDS, "NATS_STORE_DIR": str(store), "NATS_SERVER_NAME": name}


@pytest.mark.parametrize("conf", ["single.conf", "cluster.conf"])
def test_config_is_valid(conf: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [nats_binary(), "-t", "-c", str(DEPLOY / conf)], env=env(tmp_path), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    argv = [nats_binary(), "-c", str(DEPLOY / "single.conf"), "-p", str(port), "-m", "0"]
    with open(tmp_path / "nats.log", "wb") as log:
        process = subprocess.Popen(argv, env=env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


class Conn:
    def __init__(self, nc: NATS, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def denied(self, subject: str) -> bool:
        """Publish and report whether the server refused it (permissions violation)."""
        before = len(self.errors)
        await self.nc.publish(subject, b"x")
        await self.nc.flush()
        for _ in range(50):
            if len(self.errors) > before:
                return any("permissions violation" in e.lower() for e in self.errors[before:])
            await asyncio.sleep(0.02)
        return False


@pytest.fixture
async def connect(secured: int) -> AsyncIterator[object]:
    opened: list[NATS] = []

    async def open_as(user: str, password: str) -> Conn:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(f"nats://{user}:{password}@127.0.0.1:{secured}", error_cb=on_error)
        opened.append(nc)
        return Conn(nc, errors)

    yield open_as
    for nc in opened:
        await nc.close()


async def test_only_the_gateway_publishes_http_and_only_the_worker_results(connect: object) -> None:
    gateway = await connect("gateway", "gw-secret")  # type: ignore[operator]
    service = await connect("service", "svc-secret")  # type: ignore[operator]
    worker = await connect("worker", "wk-secret")  # type: ignore[operator]
    assert not await gateway.denied("http.auth")
    assert await service.denied("http.auth")
    assert await worker.denied("http.persona")
    assert not await service.denied("rpc.auth")
    assert not await worker.denied("results.chat")
    assert await service.denied("results.chat")
    assert await gateway.denied("results.media")
    assert not await service.denied("jobs.chat")
    assert await gateway.denied("jobs.chat")


def test_wrong_password_is_refused(secured: int) -> None:
    # Spoken at the protocol level: the client library retries and keeps sockets around.
    with socket.create_connection(("127.0.0.1", secured), timeout=5) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"INFO ")
        sock.sendall(b'CONNECT {"user":"service","pass":"wrong","verbose":false}\r\nPING\r\n')
        assert b"Authorization Violation" in reader.readline()
        reader.close()


async def test_every_component_can_set_up_jetstream_with_its_user(connect: object) -> None:
    service = await connect("service", "svc-secret")  # type: ignore[operator]
    await streams.ensure_all(service.nc.jetstream(), Settings.from_env({}))
    info = await service.nc.jetstream().stream_info("EVENTS")
    assert info.config.republish is not None
