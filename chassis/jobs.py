"""Enqueueing jobs and publishing results: deduplicated by id within JetStream's window."""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext

from chassis.context import request_id_var
from proto.codec import json_encoder

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
