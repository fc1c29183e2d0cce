"""Each storage back-end on real infrastructure: a temporary folder, and a real S3-protocol
server (moto in server mode) with a fresh bucket per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chassis.settings import Settings
from chassis.storage import Storage, open_storage
from tests.support.s3 import create_bucket, s3_settings


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = {
        "data_dir": str(tmp_path / "data"),
        "public_url": "http://media.test",
        "media_url_secret": "s3cret",
    }
    if request.param == "s3":
        base.update(s3_settings(request.getfixturevalue("moto")))
    return Settings.from_env({}, **base)


@pytest.fixture
async def storage(storage_settings: Settings) -> AsyncIterator[Storage]:
    if storage_settings.storage == "s3":
        await create_bucket(storage_settings)
    async with open_storage(storage_settings) as opened:
        yield opened
