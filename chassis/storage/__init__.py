"""Media storage shared by media_svc, the generation worker and the gateway.

`open_storage(settings)` gives the back-end `STORAGE` names: `local` (a folder served by the
gateway under signed URLs) or `s3` (any S3-compatible bucket)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from chassis.settings import Settings
from chassis.storage.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    Storage,
    StorageError,
    StorageUnavailable,
    Writer,
    check_key,
    content_type_for,
)
from chassis.storage.local import LocalStorage
from chassis.storage.signing import UrlSigner, url_secret

__all__ = [
    "InvalidKey",
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "Writer",
    "check_key",
    "content_type_for",
    "local_root",
    "open_storage",
    "url_signer",
]


def local_root(settings: Settings) -> Path:
    return Path(settings.data_dir) / "media"


def url_signer(settings: Settings) -> UrlSigner:
    return UrlSigner(url_secret(settings), settings.media_url_ttl)


@contextlib.asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    if settings.storage == "local":
        yield LocalStorage(local_root(settings), url_signer(settings), settings.public_url)
    elif settings.storage == "s3":
        from chassis.storage.s3 import S3Storage  # aiobotocore is only imported when used

        async with S3Storage.connect(settings) as s3:
            yield s3
    else:
        raise SystemExit(f"unknown STORAGE {settings.storage!r}: use local or s3")
