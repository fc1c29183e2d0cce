"""Enqueueing jobs and publishing results: deduplicated by id within JetStream's window."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoStreamResponseError, ServiceUnavailableError
from nats.js.kv import KeyValue

from chassis.context import request_id_var
from chassis.errors import ServiceUnavailable
from proto.codec import json_encoder
from proto.subjects import KV_CANCELS, cancel_subject

log = structlog.get_logger("chassis.jobs")

JOB_ID_HEADER = "Job-Id"
REQUEST_ID_HEADER = "Request-Id"


# When a NATS node dies, the streams it led answer no publish until a new leader is elected (Raft
# election timeouts: up to ~10 s). Jobs and results carry a message id, so publishing again is safe
# (a copy that did reach the stream is dropped as a duplicate): ride over the election instead of
# failing the request or the job.
PUBLISH_RETRY = 12.0
_TRANSIENT = (NoStreamResponseError, ServiceUnavailableError, nats.errors.TimeoutError)


async def _publish_by_id(
    js: JetStreamContext, subject: str, payload: bytes, headers: dict[str, str], retry_for: float
) -> int:
    deadline = time.monotonic() + retry_for
    delay = 0.1
    while True:
        try:
            ack = await js.publish(subject, payload, headers=headers)
        except _TRANSIENT:
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        return int(ack.seq)


async def publish_job(
    js: JetStreamContext, subject: str, job_id: str, job: msgspec.Struct, *, retry_for: float = PUBLISH_RETRY
) -> int:
    """Enqueue a job; publishing the same `job_id` twice stores it once."""
    headers = {"Nats-Msg-Id": f"job:{job_id}", JOB_ID_HEADER: job_id}
    rid = request_id_var.get()
    if rid:
        headers[REQUEST_ID_HEADER] = rid
    return await _publish_by_id(js, subject, json_encoder.encode(job), headers, retry_for)


async def submit(
    js: JetStreamContext,
    subject: str,
    job_id: str,
    job: msgspec.Struct,
    *,
    mark_failed: Callable[[], Awaitable[object]],
    retry_for: float = PUBLISH_RETRY,
) -> None:
    """Enqueue a job a request has already recorded as pending. When the bus refuses it (after
    `PUBLISH_RETRY`), `mark_failed` records it as failed, so nothing waits for a job that was
    never queued, and the request answers 503."""
    try:
        await publish_job(js, subject, job_id, job, retry_for=retry_for)
    except Exception as exc:
        log.warning("job not queued", subject=subject, job_id=job_id, error=repr(exc))
        await mark_failed()
        raise ServiceUnavailable("the job queue is unavailable; retry shortly") from None


async def publish_result(
    js: JetStreamContext,
    subject: str,
    job_id: str,
    result: msgspec.Struct,
    *,
    retry_for: float = PUBLISH_RETRY,
) -> int:
    """Publish a job's result; a retried job publishing again within two minutes is dropped."""
    headers = {"Nats-Msg-Id": f"result:{job_id}", JOB_ID_HEADER: job_id}
    return await _publish_by_id(js, subject, json_encoder.encode(result), headers, retry_for)


_KV_KEY = re.compile(r"^[-_=A-Za-z0-9]{1,200}$")


def _cancel_key(job_id: str) -> str:
    return job_id if _KV_KEY.match(job_id) else hashlib.sha256(job_id.encode()).hexdigest()


async def hint(nc: NATS, subject: str, message: msgspec.Struct) -> None:
    """Fire and forget on core NATS: for work worth doing early but harmless to lose (no
    subscriber, a worker restarting: nothing waits for it)."""
    try:
        await nc.publish(subject, json_encoder.encode(message))
    except nats.errors.Error as exc:
        log.info("hint not sent", subject=subject, error=str(exc))


async def request_cancel(nc: NATS, js: JetStreamContext, job_id: str, *, timeout: float = 1.0) -> bool:
    """Ask the worker running `job_id` to stop; True when a running worker acknowledged.

    A marker is stored first (bucket `cancels`), so a job no worker has taken yet, or one
    redelivered after a crash, is cancelled as soon as a worker picks it up."""
    kv = await js.key_value(KV_CANCELS)
    await kv.put(_cancel_key(job_id), b"1")
    try:
        await nc.request(cancel_subject(job_id), b"", timeout=timeout)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False
    return True


class CancelMarkers:
    """The `cancels` bucket as the worker reads it, bound once: binding asks the server for the
    stream's info, a round trip that would otherwise come before every job."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def requested(self, job_id: str) -> bool:
        """Whether a cancel for `job_id` was requested (checked when a worker takes the job)."""
        if self._kv is None:
            self._kv = await self.js.key_value(KV_CANCELS)
        try:
            await self._kv.get(_cancel_key(job_id))
        except KeyNotFoundError:
            return False
        return True
