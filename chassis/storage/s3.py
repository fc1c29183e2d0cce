"""S3-compatible storage through aiobotocore (AWS S3, MinIO, Ceph, R2, moto in tests).

Large writes are multipart uploads with one part buffered at a time; URLs are the public
base URL plus the key when `S3_PUBLIC_BASE_URL` is set, presigned GETs otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from chassis.settings import Settings
from chassis.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    OnBytes,
    StorageError,
    StorageUnavailable,
    check_key,
    check_prefix,
    copy_file,
)

MIN_PART = 5 * 1024 * 1024  # S3's smallest part but the last
READ_CHUNK = 256 * 1024
NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def _error(exc: Exception, key: str = "") -> StorageError:
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in NOT_FOUND:
            return ObjectNotFound(key or code)
        if status >= 500 or code in {"SlowDown", "RequestTimeout", "ServiceUnavailable"}:
            return StorageUnavailable(f"S3 {code or status}")
        return StorageError(f"S3 {code or status}: {exc}")
    return StorageUnavailable(f"S3 unreachable: {type(exc).__name__}: {exc}")


TRANSIENT = (botocore.exceptions.BotoCoreError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


@contextlib.contextmanager
def _mapped(key: str = "") -> Any:
    try:
        yield
    except (botocore.exceptions.ClientError, *TRANSIENT) as exc:
        raise _error(exc, key) from exc


class S3Writer:
    def __init__(self, storage: S3Storage, key: str, content_type: str) -> None:
        self.s3 = storage
        self.key = check_key(key)
        self.content_type = content_type
        self.written = 0
        self._buf = io.BytesIO()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    async def write(self, data: bytes) -> None:
        self._buf.write(data)
        self.written += len(data)
        if self._buf.tell() >= self.s3.part_size:
            await self._flush_part()

    async def _flush_part(self) -> None:
        client, bucket = self.s3.client, self.s3.bucket
        # Hand the buffer over instead of copying it: one part is the most this writer holds
        # (aiohttp wants a file-like body for large payloads anyway).
        body, self._buf = self._buf, io.BytesIO()
        body.seek(0)
        with _mapped(self.key):
            if self._upload_id is None:
                created = await client.create_multipart_upload(
                    Bucket=bucket, Key=self.key, ContentType=self.content_type
                )
                self._upload_id = str(created["UploadId"])
            number = len(self._parts) + 1
            part = await client.upload_part(
                Bucket=bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
            )
        self._parts.append({"ETag": part["ETag"], "PartNumber": number})

    async def commit(self) -> int:
        client, bucket = self.s3.client, self.s3.bucket
        try:
            if self._upload_id is None:
                with _mapped(self.key):
                    self._buf.seek(0)
                    await client.put_object(
                        Bucket=bucket, Key=self.key, Body=self._buf, ContentType=self.content_type
                    )
            else:
                if self._buf.tell():
                    await self._flush_part()
                with _mapped(self.key):
                    await client.complete_multipart_upload(
                        Bucket=bucket,
                        Key=self.key,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
        except BaseException:
            await self.abort()
            raise
        self._done = True
        self._buf = io.BytesIO()
        return self.written

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buf = io.BytesIO()
        if self._upload_id is not None:
            with contextlib.suppress(Exception):
                await self.s3.client.abort_multipart_upload(
                    Bucket=self.s3.bucket, Key=self.key, UploadId=self._upload_id
                )


class S3Storage:
    name = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        url_ttl: float,
        public_base_url: str | None = None,
        part_size: int = 8 * 1024 * 1024,
        temp_dir: str | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.url_ttl = url_ttl
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.part_size = max(part_size, MIN_PART)
        self.temp_dir = temp_dir

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, settings: Settings) -> AsyncIterator[S3Storage]:
        if not settings.s3_bucket:
            raise SystemExit("STORAGE=s3 needs S3_BUCKET")
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        session = get_session()
        async with session.create_client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
            config=config,
        ) as client:
            yield cls(
                client,
                settings.s3_bucket,
                url_ttl=settings.media_url_ttl,
                public_base_url=settings.s3_public_base_url,
                part_size=settings.s3_part_size,
            )

    def writer(self, key: str, content_type: str) -> S3Writer:
        return S3Writer(self, key, content_type)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> int:
        with _mapped(key):
            await self.client.put_object(
                Bucket=self.bucket, Key=check_key(key), Body=io.BytesIO(data), ContentType=content_type
            )
        return len(data)

    async def put_file(self, key: str, path: Path, content_type: str, on_bytes: OnBytes | None = None) -> int:
        return await copy_file(self.writer(key, content_type), path, self.part_size, on_bytes)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        extra: dict[str, str] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with _mapped(key):
            response = await self.client.get_object(Bucket=self.bucket, Key=check_key(key), **extra)
        async with response["Body"] as body:
            while True:
                with _mapped(key):
                    chunk = await body.read(READ_CHUNK)
                if not chunk:
                    return
                yield chunk

    @contextlib.asynccontextmanager
    async def as_file(self, key: str) -> AsyncIterator[Path]:
        folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="s3-", dir=self.temp_dir)
        try:
            path = Path(folder) / Path(key).name
            with open(path, "wb") as f:
                async for chunk in self.read(key):
                    await asyncio.to_thread(f.write, chunk)
            yield path
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def stat(self, key: str) -> ObjectInfo:
        with _mapped(key):
            head = await self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        return ObjectInfo(key, int(head["ContentLength"]), str(head.get("ContentType", "")))

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except ObjectNotFound:
            return False
        return True

    async def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": check_key(k)} for k in keys[i : i + 1000]]
            with _mapped():
                await self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    async def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with _mapped():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [str(item["Key"]) for item in page.get("Contents", [])]
        with _mapped():
            async for page in self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for upload in page.get("Uploads", []):
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        await self.delete(keys)
        return len(keys)

    async def url(self, key: str) -> str:
        check_key(key)
        if self.public_base_url:
            return f"{self.public_base_url}/{quote(key)}"
        url: str = await self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=int(self.url_ttl)
        )
        return url

    async def check(self) -> None:
        with _mapped():
            await self.client.head_bucket(Bucket=self.bucket)
