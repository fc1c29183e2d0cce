from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.natsd import NatsServer
from tests.support.procs import Procs


@pytest.fixture
def nats_alone(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server for component processes (the `nats_server` fixture's twin, by its own path)."""
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def procs(tmp_path: Path, nats_alone: NatsServer) -> Iterator[Procs]:
    """Component processes (`python -m …`) on `nats_alone`, all stopped when the test ends."""
    group = Procs(tmp_path / "logs", {"NATS_URL": nats_alone.url, "DATA_DIR": str(tmp_path / "data")})
    try:
        yield group
    finally:
        group.stop()
