"""Fixtures for media: the mesh on a real nats-server with local storage or a real S3-protocol
server (moto in server mode, one per session, a fresh bucket per test)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chassis.settings import Settings
from tests.support.media import MediaStack, start_media_stack
from tests.support.mesh import Mesh
from tests.support.ports import free_port
from tests.support.s3 import s3_settings

StartMedia = Callable[..., Awaitable[MediaStack]]


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def media_settings(
    backend: str, make_settings: Callable[..., Settings], request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        # Returned URLs must reach this test's gateway: its port is chosen now.
        base: dict[str, Any] = {"job_backoff_base": 0.2, "public_url": f"http://127.0.0.1:{free_port()}"}
        if backend == "s3":
            base.update(s3_settings(request.getfixturevalue("moto")))
        base.update(overrides)
        return make_settings(**base)

    return make


@pytest.fixture
def start_media(stack: Mesh, media_settings: Callable[..., Settings]) -> StartMedia:
    async def start(*, worker: bool = True, **overrides: Any) -> MediaStack:
        return await start_media_stack(stack, media_settings(**overrides), worker=worker)

    return start
