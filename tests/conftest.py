from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chassis.settings import Settings
from tests.support.mesh import Mesh, mesh
from tests.support.natsd import NatsServer
from tests.support.pg import postgres_server
from tests.support.s3 import MotoServer


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A fresh nats-server per test: durable consumers and streams never leak between tests."""
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def make_settings(nats_server: NatsServer, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "nats_url": nats_server.url,
            "data_dir": str(tmp_path / "data"),
            # bcrypt's floor: a sign-up costs milliseconds; test_stored_secrets checks the real cost.
            "password_hash_cost": 4,
            # Deterministic replies; the tests of a real model choose it (tests/model_server).
            "text_provider": "offline",
            # Listings hold only what a test made; tests/persona_svc/test_starters.py turns it on.
            "seed_starters": False,
            # Accounts at once (201): most tests need a user, not the emailed-code sign-up, and
            # hold no inbox. The sign-up tests (tests/auth_svc/test_signup.py), the browser tests and
            # tests/chassis/test_devstack.py run the default, "email".
            "signup_confirmation": "none",
            # Many sign-ups from 127.0.0.1 in one test; tests/auth_svc sets the limits it tests.
            "signup_rate_per_client": 1000,
        }
        base.update(overrides)
        return Settings.from_env({}, **base)

    return make


@pytest.fixture
async def stack(make_settings: Callable[..., Settings]) -> AsyncIterator[Mesh]:
    async with mesh(make_settings()) as m:
        yield m


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One S3-protocol server (moto) for the session; tests make their own buckets."""
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()
