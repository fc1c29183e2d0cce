"""Local storage: a folder (`<DATA_DIR>/media` by default), served by the gateway's `/files/`
plugin under signed, expiring URLs. File I/O runs in threads so the event loop never waits
on the disk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from io import BufferedWriter
from pathlib import Path

from chassis.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    OnBytes,
    StorageUnavailable,
    check_key,
    check_prefix,
    content_type_for,
    copy_file,
)
from chassis.storage.signing import UrlSigner

CHUNK = 256 * 1024
FILES_PREFIX = "/files/"


class LocalWriter:
    def __init__(self, final: Path) -> None:
        self.final = final
        self.tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
        self.written = 0
        self._file: BufferedWriter | None = None
        self._done = False

    def _open(self) -> BufferedWriter:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        return open(self.tmp, "wb")  # noqa: SIM115 - closed in commit/abort

    async def write(self, data: bytes) -> None:
        if self._file is None:
            self._file = await asyncio.to_thread(self._open)
        await asyncio.to_thread(self._file.write, data)
        self.written += len(data)

    def _commit(self) -> None:
        if self._file is None:
            self._file = self._open()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.final)

    async def commit(self) -> int:
        await asyncio.to_thread(self._commit)
        self._done = True
        return self.written

    def _abort(self) -> None:
        if self._file is not None:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    async def abort(self) -> None:
        if not self._done:
            self._done = True
            await asyncio.to_thread(self._abort)


class LocalStorage:
    name = "local"

    def __init__(self, root: Path, signer: UrlSigner, public_url: str) -> None:
        self.root = root
        self.signer = signer
        self.public_url = public_url.rstrip("/")

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str, content_type: str) -> LocalWriter:
        return LocalWriter(self.path(key))

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> int:
        w = self.writer(key, content_type)
        try:
            await w.write(data)
            return await w.commit()
        except BaseException:
            await w.abort()
            raise

    async def put_file(self, key: str, path: Path, content_type: str, on_bytes: OnBytes | None = None) -> int:
        return await copy_file(self.writer(key, content_type), path, 4 * CHUNK, on_bytes)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(open, self.path(key), "rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        try:
            await asyncio.to_thread(f.seek, start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = await asyncio.to_thread(f.read, CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            f.close()

    @contextlib.asynccontextmanager
    async def as_file(self, key: str) -> AsyncIterator[Path]:
        path = self.path(key)
        if not await asyncio.to_thread(path.is_file):
            raise ObjectNotFound(key)
        yield path

    async def stat(self, key: str) -> ObjectInfo:
        try:
            st = await asyncio.to_thread(os.stat, self.path(key))
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        return ObjectInfo(key, st.st_size, content_type_for(key))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def delete(self, keys: list[str]) -> None:
        def remove() -> None:
            for key in keys:
                with contextlib.suppress(FileNotFoundError):
                    self.path(key).unlink()

        await asyncio.to_thread(remove)

    async def delete_prefix(self, prefix: str) -> int:
        folder = self.root / check_prefix(prefix)

        def remove() -> int:
            if not folder.is_dir():
                return 0
            count = sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
            return count

        return await asyncio.to_thread(remove)

    async def url(self, key: str) -> str:
        return f"{self.public_url}{FILES_PREFIX}{check_key(key)}?{self.signer.query(key)}"

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise StorageUnavailable(f"{self.root} is not writable")

        await asyncio.to_thread(probe)
