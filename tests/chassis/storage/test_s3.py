"""What only the S3 back-end does: multipart uploads, public base URLs (moto server)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from chassis.settings import Settings
from chassis.storage import open_storage
from chassis.storage.s3 import S3Storage
from tests.support.s3 import MotoServer, create_bucket, s3_settings

MiB = 1024 * 1024


@pytest.fixture
async def s3(moto: MotoServer) -> AsyncIterator[tuple[S3Storage, Settings]]:
    settings = Settings.from_env({}, **s3_settings(moto))
    await create_bucket(settings)
    async with open_storage(settings) as storage:
        assert isinstance(storage, S3Storage)
        yield storage, settings


async def test_large_write_is_a_multipart_upload(s3: tuple[S3Storage, Settings]) -> None:
    storage, settings = s3
    data = os.urandom(12 * MiB)
    writer = storage.writer("m4/upload.mp4", "video/mp4")
    for i in range(0, len(data), 256 * 1024):
        await writer.write(data[i : i + 256 * 1024])
    await writer.commit()
    client: Any = storage.client
    head = await client.head_object(Bucket=settings.s3_bucket, Key="m4/upload.mp4")
    # A multipart object's ETag is "<md5 of the part md5s>-<parts>": 5 + 5 + 2 MiB.
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentType"] == "video/mp4"
    got = bytearray()
    async for chunk in storage.read("m4/upload.mp4"):
        got += chunk
    assert got == data


async def test_small_write_is_one_put(s3: tuple[S3Storage, Settings]) -> None:
    storage, settings = s3
    writer = storage.writer("m5/upload.jpg", "image/jpeg")
    await writer.write(b"\xff\xd8\xff" + os.urandom(1000))
    await writer.commit()
    head = await storage.client.head_object(Bucket=settings.s3_bucket, Key="m5/upload.jpg")
    assert "-" not in head["ETag"].strip('"')


async def test_public_base_url_instead_of_presigning(s3: tuple[S3Storage, Settings]) -> None:
    _, settings = s3
    public = msgspec.structs.replace(settings, s3_public_base_url="https://cdn.example.com/media/")
    async with open_storage(public) as storage:
        assert await storage.url("m6/optimized.webp") == "https://cdn.example.com/media/m6/optimized.webp"
