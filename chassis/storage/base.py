"""The storage protocol shared by media_svc (uploads), the worker (variants) and the gateway
(serving local files): keys like `<media_id>/original.jpg`, streamed reads and writes."""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import msgspec

# Called with the number of bytes stored so far.
OnBytes = Callable[[int], Awaitable[None]]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_KEY_LENGTH = 512

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
}


class StorageError(Exception):
    pass


class ObjectNotFound(StorageError):
    pass


class StorageUnavailable(StorageError):
    """The back-end did not answer (network, 5xx): worth retrying."""


class InvalidKey(StorageError, ValueError):
    pass


class ObjectInfo(msgspec.Struct, frozen=True):
    key: str
    size: int
    content_type: str


def check_key(key: str) -> str:
    """Keys are relative, `/`-separated, each segment plain ASCII: they map onto a folder tree
    and a URL path without escaping, and can never climb out of the storage root."""
    if not key or len(key) > MAX_KEY_LENGTH or posixpath.normpath(key) != key:
        raise InvalidKey(key)
    if not all(_SEGMENT.match(part) for part in key.split("/")):
        raise InvalidKey(key)
    return key


def check_prefix(prefix: str) -> str:
    if not prefix.endswith("/"):
        raise InvalidKey(prefix)
    check_key(prefix[:-1])
    return prefix


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(posixpath.splitext(key)[1].lower(), "application/octet-stream")


class Writer(Protocol):
    """A streamed write; nothing is visible under the key until `commit()`."""

    written: int

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> int:
        """Make the object visible; returns its size."""
        ...

    async def abort(self) -> None:
        """Drop everything written (safe to call after a failed write or twice)."""
        ...


class Storage(Protocol):
    name: str

    def writer(self, key: str, content_type: str) -> Writer: ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> int: ...

    async def put_file(
        self, key: str, path: Path, content_type: str, on_bytes: OnBytes | None = None
    ) -> int: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of `key` from `start` up to `end` (exclusive), in chunks."""
        ...

    def as_file(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file holding the object, for tools that need a path (ffmpeg)."""
        ...

    async def stat(self, key: str) -> ObjectInfo: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, keys: list[str]) -> None: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix` (which ends with `/`); returns how many."""
        ...

    async def url(self, key: str) -> str:
        """A complete URL a browser can fetch (signed or presigned ones expire)."""
        ...

    async def check(self) -> None:
        """Raise when the back-end is not usable (readiness)."""
        ...


async def copy_file(writer: Writer, path: Path, chunk: int, on_bytes: OnBytes | None) -> int:
    """Stream a local file into `writer` (`put_file` of every back-end); aborted on any failure."""
    try:
        with open(path, "rb") as f:
            while data := await asyncio.to_thread(f.read, chunk):
                await writer.write(data)
                if on_bytes is not None:
                    await on_bytes(writer.written)
        return await writer.commit()
    except BaseException:
        await writer.abort()
        raise
