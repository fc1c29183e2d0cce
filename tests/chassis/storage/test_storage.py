"""The storage protocol, the same checks on local storage and on S3 (moto server)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.settings import Settings
from chassis.storage import InvalidKey, ObjectNotFound, Storage, open_storage
from tests.support.media import stored_keys

MiB = 1024 * 1024


async def read(storage: Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    out = bytearray()
    async for chunk in storage.read(key, start, end):
        out += chunk
    return bytes(out)


async def test_streamed_write_is_invisible_until_commit(storage: Storage, storage_settings: Settings) -> None:
    data = os.urandom(3 * MiB + 5)
    writer = storage.writer("m1/original.jpg", "image/jpeg")
    for i in range(0, len(data), 100_000):
        await writer.write(data[i : i + 100_000])
    assert not await storage.exists("m1/original.jpg")
    assert await writer.commit() == len(data)
    assert await read(storage, "m1/original.jpg") == data
    info = await storage.stat("m1/original.jpg")
    assert info.size == len(data) and info.content_type == "image/jpeg"
    assert await read(storage, "m1/original.jpg", 10, 20) == data[10:20]
    assert await read(storage, "m1/original.jpg", len(data) - 7) == data[-7:]
    assert await stored_keys(storage_settings) == ["m1/original.jpg"]


async def test_abort_leaves_nothing(storage: Storage, storage_settings: Settings) -> None:
    writer = storage.writer("m2/upload.mp4", "video/mp4")
    for _ in range(13):  # past one S3 part: a multipart upload was started
        await writer.write(os.urandom(MiB))
    await writer.abort()
    await writer.abort()
    assert not await storage.exists("m2/upload.mp4")
    assert await stored_keys(storage_settings) == []
    if storage_settings.storage == "s3":
        client: Any = getattr(storage, "client")  # noqa: B009
        uploads = await client.list_multipart_uploads(Bucket=storage_settings.s3_bucket)
        assert not uploads.get("Uploads")


async def test_put_file_reports_bytes_and_as_file_reads_back(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(11 * MiB))
    seen: list[int] = []

    async def on_bytes(n: int) -> None:
        seen.append(n)

    assert await storage.put_file("m3/original.mp4", source, "video/mp4", on_bytes) == 11 * MiB
    assert seen == sorted(seen) and seen[-1] == 11 * MiB and len(seen) >= 2
    async with storage.as_file("m3/original.mp4") as path:
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    with pytest.raises(ObjectNotFound):
        async with storage.as_file("m3/missing.mp4"):
            pass


async def test_delete_prefix_and_delete(storage: Storage, storage_settings: Settings) -> None:
    for key in ("a/original.jpg", "a/thumbnail.webp", "ab/original.jpg"):
        await storage.put_bytes(key, b"x" * 10, "application/octet-stream")
    assert await storage.delete_prefix("a/") == 2
    assert await stored_keys(storage_settings) == ["ab/original.jpg"]
    await storage.delete(["ab/original.jpg", "ab/missing.jpg"])
    assert await stored_keys(storage_settings) == []
    assert await storage.delete_prefix("nothing/") == 0
    with pytest.raises(ObjectNotFound):
        await storage.stat("a/original.jpg")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/key.jpg", "a//b.jpg", "a/./b.jpg", "a/b c.jpg", ""])
async def test_keys_cannot_escape(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.writer(key, "image/jpeg")


async def test_urls_are_complete_and_fetchable(storage: Storage, storage_settings: Settings) -> None:
    await storage.put_bytes("m5/thumbnail.webp", b"RIFF....WEBP", "image/webp")
    url = await storage.url("m5/thumbnail.webp")
    if storage_settings.storage == "local":
        assert url.startswith("http://media.test/files/m5/thumbnail.webp?exp=") and "&sig=" in url
        return
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    async with httpx.AsyncClient() as http:
        r = await http.get(url)
        assert r.status_code == 200 and r.content == b"RIFF....WEBP"


async def test_check_fails_when_the_backend_is_unusable(storage_settings: Settings) -> None:
    import msgspec

    from chassis.storage import StorageError

    if storage_settings.storage == "s3":
        broken = msgspec.structs.replace(storage_settings, s3_bucket="no-such-bucket-here")
    else:
        Path(storage_settings.data_dir).mkdir(parents=True)
        (Path(storage_settings.data_dir) / "media").write_text("a file where the folder should be")
        broken = storage_settings
    async with open_storage(broken) as storage:
        with pytest.raises((StorageError, OSError)):
            await storage.check()
