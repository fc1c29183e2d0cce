"""Streamed reads and writes of JetStream object-store objects.

nats-py's ObjectStore reads a whole object into memory and writes from blocking
file objects; the bridge needs neither. These speak the same layout (chunks on
`$O.<bucket>.C.<nuid>`, rolled-up meta on `$O.<bucket>.M.<name>`), so the
standard client and `nats object` still see, list and delete the objects.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from hashlib import sha256

from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

CHUNK_SIZE = 128 * 1024
PUBLISH_WINDOW = 8
FETCH_BATCH = 16
ACK_TIMEOUT = 10.0


class ObjectMissing(Exception):
    pass


class ObjectCorrupt(Exception):
    pass


def _stream(bucket: str) -> str:
    return f"OBJ_{bucket}"


def _meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def _digest(h: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(h).decode()


async def put_stream(
    js: JetStreamContext,
    bucket: str,
    name: str,
    pieces: AsyncIterable[bytes],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Store `pieces` as object `name`, never holding more than a few chunks; returns its size."""
    nuid = uuid.uuid4().hex
    subject = f"$O.{bucket}.C.{nuid}"
    digest = sha256()
    pending: deque[asyncio.Future[api.PubAck]] = deque()
    total = 0
    count = 0

    async def send(data: bytes) -> None:
        nonlocal total, count
        digest.update(data)
        pending.append(await js.publish_async(subject, data))
        total += len(data)
        count += 1
        if len(pending) >= PUBLISH_WINDOW:
            await asyncio.wait_for(pending.popleft(), ACK_TIMEOUT)

    buf = bytearray()
    try:
        async for piece in pieces:
            buf += piece
            while len(buf) >= chunk_size:
                await send(bytes(buf[:chunk_size]))
                del buf[:chunk_size]
        if buf:
            await send(bytes(buf))
        while pending:
            await asyncio.wait_for(pending.popleft(), ACK_TIMEOUT)
        meta = {
            "name": name,
            "bucket": bucket,
            "nuid": nuid,
            "size": total,
            "chunks": count,
            "mtime": datetime.now(UTC).isoformat(),
            "digest": _digest(digest.digest()),
            "options": {"max_chunk_size": chunk_size},
        }
        await js.publish(
            _meta_subject(bucket, name),
            json.dumps(meta).encode(),
            headers={api.Header.ROLLUP: "sub"},
        )
    except BaseException:
        # Chunks already sent may be stored after a purge the server handles first;
        # let their acks arrive, then purge.
        await asyncio.shield(_settle_and_purge(js, bucket, subject, list(pending)))
        raise
    return total


async def _settle_and_purge(
    js: JetStreamContext, bucket: str, subject: str, pending: list[asyncio.Future[api.PubAck]]
) -> None:
    if pending:
        await asyncio.wait(pending, timeout=ACK_TIMEOUT)
    await _purge(js, bucket, subject)


async def _purge(js: JetStreamContext, bucket: str, subject: str) -> None:
    try:
        await js.purge_stream(_stream(bucket), subject=subject)
    except Exception:  # noqa: BLE001 - best effort; the bucket TTL removes leftovers
        pass


async def object_meta(js: JetStreamContext, bucket: str, name: str) -> dict[str, object]:
    try:
        msg = await js.get_last_msg(_stream(bucket), _meta_subject(bucket, name))
    except NotFoundError:
        raise ObjectMissing(name) from None
    meta: dict[str, object] = json.loads(msg.data or b"{}")
    if meta.get("deleted"):
        raise ObjectMissing(name)
    return meta


async def get_stream(js: JetStreamContext, bucket: str, name: str) -> AsyncIterator[bytes]:
    """Yield the chunks of object `name` in order, fetching a bounded batch at a time."""
    meta = await object_meta(js, bucket, name)
    chunks = int(str(meta.get("chunks", 0)))
    if chunks == 0:
        return
    subject = f"$O.{bucket}.C.{meta['nuid']}"
    sub = await js.pull_subscribe(
        subject,
        stream=_stream(bucket),
        config=api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        ),
    )
    digest = sha256()
    seen = 0
    try:
        while seen < chunks:
            msgs = await sub.fetch(min(FETCH_BATCH, chunks - seen), timeout=ACK_TIMEOUT)
            for msg in msgs:
                digest.update(msg.data)
                seen += 1
                yield msg.data
        if _digest(digest.digest()) != meta.get("digest"):
            raise ObjectCorrupt(name)
    finally:
        await sub.unsubscribe()


async def delete_object(js: JetStreamContext, bucket: str, name: str) -> None:
    """Purge the chunks and the meta; a missing object is not an error."""
    try:
        meta = await object_meta(js, bucket, name)
    except ObjectMissing:
        return
    await _purge(js, bucket, f"$O.{bucket}.C.{meta['nuid']}")
    await _purge(js, bucket, _meta_subject(bucket, name))
