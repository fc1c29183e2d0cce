"""Enqueueing jobs and publishing results: deduplicated by id within JetStream's window."""

from __future__ import annotations

import hashlib
import re

import msgspec
import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from chassis.context import request_id_var
from proto.codec import json_encoder
from proto.subjects import KV_CANCELS, cancel_subject

JOB_ID_HEADER = "Job-Id"
REQUEST_ID_HEADER = "Request-Id"


async def publish_job(js: JetStreamContext, subject: str, job_id: str, job: msgspec.Struct) -> int:
    """Enqueue a job; publishing the same `job_id` twice stores it once."""
    headers = {"Nats-Msg-Id": f"job:{job_id}", JOB_ID_HEADER: job_id}
    rid = request_id_var.get()
    if rid:
        headers[REQUEST_ID_HEADER] = rid
    ack = await js.publish(subject, json_encoder.encode(job), headers=headers)
    return int(ack.seq)


async def publish_result(js: JetStreamContext, subject: str, job_id: str, result: msgspec.Struct) -> int:
    """Publish a job's result; a retried job publishing again within two minutes is dropped."""
    headers = {"Nats-Msg-Id": f"result:{job_id}", JOB_ID_HEADER: job_id}
    ack = await js.publish(subject, json_encoder.encode(result), headers=headers)
    return int(ack.seq)


_KV_KEY = re.compile(r"^[-_=A-Za-z0-9]{1,200}$")


def _cancel_key(job_id: str) -> str:
    return job_id if _KV_KEY.match(job_id) else hashlib.sha256(job_id.encode()).hexdigest()


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


async def cancel_requested(js: JetStreamContext, job_id: str) -> bool:
    """Whether a cancel for `job_id` was requested (checked by the worker when it takes the job)."""
    kv = await js.key_value(KV_CANCELS)
    try:
        await kv.get(_cancel_key(job_id))
    except KeyNotFoundError:
        return False
    return True
