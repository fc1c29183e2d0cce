"""Enqueueing rides over a stream that answers nothing for a while (a leader election after a
node loss, `tests/e2e/test_nats_node_loss.py`), and stores a job once however often it is sent."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.errors import NoStreamResponseError

from chassis import streams
from chassis.errors import ServiceUnavailable
from chassis.jobs import publish_job, publish_result, submit
from chassis.settings import Settings
from proto.jobs import JobBase
from proto.subjects import JOBS_CHAT, RESULTS_CHAT, STREAM_JOBS, STREAM_RESULTS
from tests.support.natsd import NatsServer


async def test_a_job_published_while_no_stream_answers_is_stored_once_it_does(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        job = JobBase(job_id="j1", user_id="u1")

        async def streams_appear() -> None:
            await asyncio.sleep(0.5)
            await streams.ensure_all(js, Settings.from_env({}, nats_url=nats_server.url))

        appear = asyncio.create_task(streams_appear())
        await publish_job(js, JOBS_CHAT, job.job_id, job)
        await publish_result(js, RESULTS_CHAT, job.job_id, job)
        await appear
        # Sent again (a client or worker retrying): still one of each.
        await publish_job(js, JOBS_CHAT, job.job_id, job)
        await publish_result(js, RESULTS_CHAT, job.job_id, job)
        assert (await js.stream_info(STREAM_JOBS)).state.messages == 1
        assert (await js.stream_info(STREAM_RESULTS)).state.messages == 1
    finally:
        await nc.close()


async def test_enqueueing_gives_up_after_its_window(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        with pytest.raises(NoStreamResponseError):
            await publish_job(
                nc.jetstream(), JOBS_CHAT, "j2", JobBase(job_id="j2", user_id="u"), retry_for=0.3
            )
    finally:
        await nc.close()


async def test_a_job_the_bus_refuses_is_marked_failed_and_answered_503(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    marked: list[str] = []

    async def mark_failed(job_id: str) -> None:
        marked.append(job_id)

    try:
        js = nc.jetstream()
        # No stream answers JOBS: the request must not leave a job pending that nothing will run.
        with pytest.raises(ServiceUnavailable) as refused:
            job = JobBase(job_id="j3", user_id="u")
            await submit(js, JOBS_CHAT, "j3", job, mark_failed=lambda: mark_failed("j3"), retry_for=0.3)
        assert refused.value.status == 503
        assert refused.value.message == "the job queue is unavailable; retry shortly"
        assert marked == ["j3"]

        # Once the stream answers, a job is queued and nothing is marked.
        await streams.ensure_all(js, Settings.from_env({}, nats_url=nats_server.url))
        job = JobBase(job_id="j4", user_id="u")
        await submit(js, JOBS_CHAT, "j4", job, mark_failed=lambda: mark_failed("j4"))
        assert marked == ["j3"]
        assert (await js.stream_info(STREAM_JOBS)).state.messages == 1
    finally:
        await nc.close()
