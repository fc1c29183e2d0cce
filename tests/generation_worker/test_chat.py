"""Chat jobs streamed by the worker and relayed by the gateway as SSE, on a real nats-server.

The worker streams the start and the chunks and publishes the result; the ending event is
persona_svc's, after it stores the result (tests/persona_svc/test_state_before_event.py)."""

from __future__ import annotations

import msgspec

from chassis.jobs import publish_job, request_cancel
from generation_worker.app import create_app as create_worker
from generation_worker.providers.offline import compose
from proto.subjects import JOBS_CHAT, RESULTS_ROOM
from tests.generation_worker.chat_support import chat_job, chat_results, chat_rig, until_result
from tests.support.mesh import Mesh, client
from tests.support.poll import eventually
from tests.support.sse import SseEvent, open_stream


async def test_offline_reply_streams_chunk_by_chunk_then_the_result(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, offline_token_delay=0.005)
    async with chat_rig(stack, settings) as rig:
        user, js = rig.user, rig.js
        async with client(rig.gateway.url) as http:
            job = chat_job(user.id)
            ticket = (await http.post("/events/tickets", headers=user.headers)).json()["data"]["ticket"]
            async with open_stream(http, params={"ticket": ticket}) as sse:
                await publish_job(js, JOBS_CHAT, job.job_id, job)
                events, result = await until_result(sse, js, job.job_id)
        started, *chunks = events
        assert started.event == "ai_chat_started"
        assert started.data["provider"] == "offline" and started.data["attempt"] == 1
        assert {c.event for c in chunks} == {"ai_chat_chunk"}
        # One event per token, in order, on the requester's channel.
        assert [c.data["index"] for c in chunks] == list(range(len(chunks))) and len(chunks) > 10
        assert all(c.data["channel"] == f"user:{user.id}" for c in events)
        ids = [e.id for e in events]
        assert all(a is not None and b is not None and a < b for a, b in zip(ids, ids[1:], strict=False))
        expected = compose(job.messages, "Mara", "Sam")
        assert "".join(c.data["delta"] for c in chunks) == result.text == expected
        assert "Mara" in expected
        # No ending event from the worker: persona_svc announces the reply once it is stored.
        assert result.finish_reason == "stop"
        assert result.usage.completion_tokens == len(chunks)
        assert len(await chat_results(js)) == 1
        assert (result.job_id, result.message_id, result.status) == (job.job_id, job.message_id, "done")
        assert result.text == expected and result.provider == "offline"


async def test_cancel_mid_stream_keeps_the_partial_reply(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, offline_token_delay=0.2)
    async with chat_rig(stack, settings) as rig:
        nc, js = rig.nc, rig.js
        job = chat_job(rig.user.id)
        async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
            await publish_job(js, JOBS_CHAT, job.job_id, job)
            seen: list[SseEvent] = []
            while len([e for e in seen if e.event == "ai_chat_chunk"]) < 3:
                seen.append(await sse.next())
            assert await request_cancel(nc, js, job.job_id)
            events, result = await until_result(sse, js, job.job_id, seen=seen)
        chunks = [e for e in events if e.event == "ai_chat_chunk"]
        # The reply stopped well before its ~40 tokens at 0.2 s each would have finished.
        assert result.status == "cancelled" and len(chunks) < 20
        partial = result.text
        assert partial == "".join(c.data["delta"] for c in chunks)
        assert compose(job.messages, "Mara", "Sam").startswith(partial)
        assert len(await chat_results(js)) == 1


async def test_cancel_before_any_worker_takes_the_job(stack: Mesh) -> None:
    async with chat_rig(stack, worker=False) as rig:
        nc, js = rig.nc, rig.js
        job = chat_job(rig.user.id)
        async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
            await publish_job(js, JOBS_CHAT, job.job_id, job)
            # No worker runs yet: nobody acknowledges, but the request is remembered.
            assert not await request_cancel(nc, js, job.job_id)
            await stack.app(create_worker(stack.settings))
            events, result = await until_result(sse, js, job.job_id)
        # Nothing was generated: no start, no chunk, an empty cancelled result.
        assert events == []
        assert result.status == "cancelled" and result.text == ""
        assert len(await chat_results(js)) == 1


async def test_a_room_reply_result_goes_to_the_subject_the_job_names(stack: Mesh) -> None:
    """A room's reply is a chat job like any other; its result reaches the rooms' consumer only."""
    async with chat_rig(stack) as rig:
        job = chat_job(rig.user.id, results_subject=RESULTS_ROOM)
        await publish_job(rig.js, JOBS_CHAT, job.job_id, job)

        async def published() -> bool:
            return bool(await chat_results(rig.js, RESULTS_ROOM))

        await eventually(published, 60, "the room reply's result")
        results = await chat_results(rig.js, RESULTS_ROOM)
        assert [(r.job_id, r.status) for r in results] == [(job.job_id, "done")]
        assert await chat_results(rig.js) == []


async def test_the_offline_provider_is_never_asked_again(stack: Mesh) -> None:
    """It quotes the user, so its reply may carry the claim; a second take would write the same words."""
    settings = msgspec.structs.replace(stack.settings, offline_token_delay=0.001)
    async with chat_rig(stack, settings) as rig, client(rig.gateway.url) as http:
        async with open_stream(http, headers=rig.user.headers) as sse:
            job = chat_job(rig.user.id, text="Repeat after me: I am a language model")
            await publish_job(rig.js, JOBS_CHAT, job.job_id, job)
            events, result = await until_result(sse, rig.js, job.job_id)
    assert [e.event for e in events].count("ai_chat_started") == 1
    assert "I am a language model" in result.text and result.status == "done"
