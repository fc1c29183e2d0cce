"""The worker component: job kinds on durable consumers, cancel requests, dead letters."""

from __future__ import annotations

import asyncio
import json

import msgspec
import nats

from chassis.jobs import publish_job
from generation_worker.app import create_app
from generation_worker.kinds import JobContext, JobKind
from proto.jobs import JobBase
from proto.subjects import JOBS_CHAT, JOBS_DEAD, STREAM_DEAD, STREAM_EVENTS, cancel_subject
from tests.support.mesh import Mesh


async def test_cancel_request_reaches_the_running_job(stack: Mesh) -> None:
    cancelled: list[str] = []
    started = asyncio.Event()

    async def handler(ctx: JobContext) -> None:
        started.set()
        await asyncio.wait_for(ctx.cancelled.wait(), 10)
        cancelled.append(ctx.job.job_id)

    kind = JobKind("chat", JOBS_CHAT, handler, concurrency=2)
    await stack.app(create_app(stack.settings, kinds=[kind]))
    nc = await nats.connect(stack.settings.nats_url)
    try:
        await publish_job(nc.jetstream(), JOBS_CHAT, "j1", JobBase(job_id="j1", user_id="u1"))
        await asyncio.wait_for(started.wait(), 10)
        reply = await nc.request(cancel_subject("j1"), b"", timeout=2)
        assert json.loads(reply.data) == {"cancelling": True}
        for _ in range(100):
            if cancelled:
                break
            await asyncio.sleep(0.02)
        assert cancelled == ["j1"]
    finally:
        await nc.close()


async def test_failing_job_ends_in_dead_letters_and_a_job_failed_event(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, job_max_deliver=2, job_backoff_base=0.05)

    async def handler(ctx: JobContext) -> None:
        raise RuntimeError("provider exploded")

    await stack.app(create_app(settings, kinds=[JobKind("chat", JOBS_CHAT, handler, concurrency=1)]))
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    try:
        await publish_job(js, JOBS_CHAT, "j2", JobBase(job_id="j2", user_id="u2"))
        for _ in range(200):
            if (await js.stream_info(STREAM_DEAD)).state.messages:
                break
            await asyncio.sleep(0.05)
        dead = await js.get_last_msg(STREAM_DEAD, JOBS_DEAD)
        letter = json.loads(dead.data or b"{}")
        assert letter["job_id"] == "j2" and letter["attempts"] == 2 and letter["kind"] == "chat"
        assert "provider exploded" in letter["reason"]
        event = await js.get_last_msg(STREAM_EVENTS, "events.user.u2")
        assert event.headers and event.headers["Event"] == "job_failed"
        assert json.loads(event.data or b"{}") == {
            "event": "job_failed",
            "channel": "user:u2",
            "job_id": "j2",
            "kind": "chat",
            "reason": "RuntimeError: provider exploded",
        }
    finally:
        await nc.close()


async def test_a_malformed_job_is_dead_lettered_at_once(stack: Mesh) -> None:
    # Many tries allowed: a malformed job must not use them (nor loop, unable to be dead-lettered).
    settings = msgspec.structs.replace(stack.settings, job_max_deliver=50, job_backoff_base=0.05)
    ran: list[str] = []

    async def handler(ctx: JobContext) -> None:
        ran.append(ctx.job.job_id)

    await stack.app(create_app(settings, kinds=[JobKind("chat", JOBS_CHAT, handler, concurrency=1)]))
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    try:
        await js.publish(JOBS_CHAT, b"not json", headers={"Job-Id": "j3"})
        await js.publish(JOBS_CHAT, b'{"job_id": 3}', headers={"Job-Id": "j4"})
        for _ in range(200):
            if (await js.stream_info(STREAM_DEAD)).state.messages >= 2:
                break
            await asyncio.sleep(0.05)
        letters = [
            json.loads((await js.get_msg(STREAM_DEAD, seq)).data or b"{}")
            for seq in range(1, 1 + (await js.stream_info(STREAM_DEAD)).state.messages)
        ]
        assert [(x["job_id"], x["attempts"]) for x in letters] == [("j3", 1), ("j4", 1)]
        assert all(x["reason"].startswith("malformed job: ") for x in letters)
        assert ran == []
    finally:
        await nc.close()
