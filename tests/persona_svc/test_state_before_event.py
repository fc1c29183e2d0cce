"""State before event: when `ai_chat_done`, `ai_chat_cancelled`, `ai_chat_error`,
`persona_draft_ready` or `persona_draft_failed` reaches a client, a read of the reply or the draft
already returns it, every time; and a persona_svc restart between the worker's result and its
storage loses nothing and announces the result once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import nats

from generation_worker.app import create_app as create_worker
from proto.chat import ChatResult
from proto.subjects import RESULTS_CHAT, STREAM_RESULTS
from tests.persona_svc.conftest import Site, SiteFactory
from tests.persona_svc.helpers import (
    create,
    jetstream,
    messages,
    send,
    start_chat,
)
from tests.support.mesh import RunningServer
from tests.support.openai_standin import OpenAIStandIn
from tests.support.pg import fresh_database
from tests.support.poll import eventually
from tests.support.sse import SseEvent, SseStream, open_stream, stored_events
from tests.support.users import User

RUNS = 50
CHAT_ENDINGS = {"ai_chat_done", "ai_chat_cancelled", "ai_chat_error"}
DRAFT_ENDINGS = {"persona_draft_ready", "persona_draft_failed"}


async def ending(sse: SseStream, job_id: str, names: set[str]) -> SseEvent:
    """The first of `names` for `job_id` (the live chunks before it are skipped)."""
    while True:
        event = await sse.next(timeout=60)
        if event.event in names:
            assert event.data["job_id"] == job_id, f"an ending for another job: {event}"
            return event


async def reply(site: Site, user: User, conversation_id: str, message_id: str) -> dict[str, Any]:
    [found] = [m for m in await messages(site, user, conversation_id) if m["id"] == message_id]
    return found


@asynccontextmanager
async def failing_model(status: int) -> AsyncIterator[str]:
    """An OpenAI-compatible stand-in answering every request with `status`; yields its base URL."""
    server = await RunningServer(OpenAIStandIn(script=[status]).app()).start()
    try:
        yield f"{server.url}/v1"
    finally:
        await server.stop()


async def test_a_reply_is_stored_when_ai_chat_done_arrives(site: Site) -> None:
    owner, user = await site.user("maker"), await site.user("Sam")
    cid = (await start_chat(site, user, (await create(site.http, owner))["id"]))["conversation"]["id"]
    async with open_stream(site.http, headers=user.headers) as sse:
        for i in range(RUNS):
            # Sent the moment the previous reply's event arrived: never refused as busy.
            turn = await send(site, user, cid, f"Tell me about storm number {i}")
            done = await ending(sse, turn["job_id"], CHAT_ENDINGS)
            assert done.event == "ai_chat_done"
            stored = await reply(site, user, cid, turn["reply_message_id"])
            assert (stored["status"], stored["content"]) == ("done", done.data["text"]), i


async def test_a_stopped_reply_is_stored_when_ai_chat_cancelled_arrives(start_site: SiteFactory) -> None:
    # Tokens slow enough that every reply is still being written when its cancel arrives.
    site = await start_site(offline_token_delay=0.05)
    owner, user = await site.user("maker"), await site.user("Sam")
    cid = (await start_chat(site, user, (await create(site.http, owner))["id"]))["conversation"]["id"]
    async with open_stream(site.http, headers=user.headers) as sse:
        for i in range(RUNS):
            turn = await send(site, user, cid, f"A long story, number {i}")
            while (await sse.next(timeout=60)).event != "ai_chat_chunk":
                pass
            r = await site.http.post(
                f"/conversations/{cid}/generations/{turn['job_id']}/cancel", headers=user.headers
            )
            assert r.status_code == 202, r.text
            cancelled = await ending(sse, turn["job_id"], CHAT_ENDINGS)
            assert cancelled.event == "ai_chat_cancelled"
            stored = await reply(site, user, cid, turn["reply_message_id"])
            assert (stored["status"], stored["content"]) == ("cancelled", cancelled.data["text"]), i


async def test_a_failed_reply_is_stored_when_ai_chat_error_arrives(start_site: SiteFactory) -> None:
    async with failing_model(400) as url:
        site = await start_site(text_provider="openai", llm_base_url=url, llm_api_key="sk-test")
        owner, user = await site.user("maker"), await site.user("Sam")
        cid = (await start_chat(site, user, (await create(site.http, owner))["id"]))["conversation"]["id"]
        async with open_stream(site.http, headers=user.headers) as sse:
            for i in range(RUNS):
                turn = await send(site, user, cid, f"Hello {i}")
                error = await ending(sse, turn["job_id"], CHAT_ENDINGS)
                assert error.event == "ai_chat_error" and "maximum context length" in error.data["reason"]
                stored = await reply(site, user, cid, turn["reply_message_id"])
                assert (stored["status"], stored["error"]) == ("failed", error.data["reason"]), i


async def test_a_reply_cancelled_with_no_worker_is_announced_after_it_is_stored(
    start_site: SiteFactory,
) -> None:
    site = await start_site(worker=False)
    owner, user = await site.user("maker"), await site.user("Sam")
    cid = (await start_chat(site, user, (await create(site.http, owner))["id"]))["conversation"]["id"]
    async with open_stream(site.http, headers=user.headers) as sse:
        turn = await send(site, user, cid, "Hello?")
        r = await site.http.post(
            f"/conversations/{cid}/generations/{turn['job_id']}/cancel", headers=user.headers
        )
        assert r.json()["data"]["stopping"] is False
        cancelled = await ending(sse, turn["job_id"], CHAT_ENDINGS)
        assert cancelled.event == "ai_chat_cancelled" and cancelled.data["text"] == ""
        assert (await reply(site, user, cid, turn["reply_message_id"]))["status"] == "cancelled"


async def draft_view(site: Site, user: User, job_id: str) -> dict[str, Any]:
    r = await site.http.get(f"/personas/drafts/{job_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()["data"]
    return view


async def generate(site: Site, user: User, i: int) -> str:
    r = await site.http.post(
        "/personas/generate", json={"idea": f"a lighthouse keeper, take {i}"}, headers=user.headers
    )
    assert r.status_code == 202, r.text
    job_id: str = r.json()["data"]["job_id"]
    return job_id


async def test_a_draft_is_stored_when_persona_draft_ready_arrives(site: Site) -> None:
    user = await site.user("writer")
    async with open_stream(site.http, headers=user.headers) as sse:
        for i in range(RUNS):
            job_id = await generate(site, user, i)
            ready = await ending(sse, job_id, DRAFT_ENDINGS)
            assert ready.event == "persona_draft_ready"
            view = await draft_view(site, user, job_id)
            assert (view["status"], view["draft"]) == ("done", ready.data["draft"]), i


async def test_a_failed_draft_is_stored_when_persona_draft_failed_arrives(start_site: SiteFactory) -> None:
    async with failing_model(400) as url:
        site = await start_site(text_provider="openai", llm_base_url=url, llm_api_key="sk-test")
        user = await site.user("writer")
        async with open_stream(site.http, headers=user.headers) as sse:
            for i in range(RUNS):
                job_id = await generate(site, user, i)
                failed = await ending(sse, job_id, DRAFT_ENDINGS)
                assert failed.event == "persona_draft_failed"
                view = await draft_view(site, user, job_id)
                assert (view["status"], view["error"]) == ("failed", failed.data["reason"]), i


async def test_a_result_waiting_through_a_restart_is_stored_and_announced_once(
    start_site: SiteFactory, postgres_url: str
) -> None:
    site = await start_site(worker=False, database_url=await fresh_database(postgres_url))
    owner, user = await site.user("maker"), await site.user("Sam")
    cid = (await start_chat(site, user, (await create(site.http, owner))["id"]))["conversation"]["id"]
    turn = await send(site, user, cid, "Will you remember this?")
    async with open_stream(site.http, headers=user.headers) as sse, jetstream(site) as js:
        # persona_svc goes down; the worker writes the reply and publishes its result meanwhile.
        await site.persona.stop()
        await site.mesh.app(create_worker(site.settings))
        published: list[ChatResult] = []

        async def result_published() -> bool:
            try:
                msg = await js.get_last_msg(STREAM_RESULTS, RESULTS_CHAT)
            except nats.js.errors.NotFoundError:
                return False
            published[:] = [msgspec.json.decode(msg.data or b"{}", type=ChatResult)]
            return bool(published[0].job_id == turn["job_id"])

        await eventually(result_published)
        # The result waits for persona_svc, and so does its announcement.
        waiting = await stored_events(js, f"events.user.{user.id}")
        assert not [e for e in waiting if e["event"] in CHAT_ENDINGS], waiting[-1]
        await site.persona.start()
        done = await ending(sse, turn["job_id"], CHAT_ENDINGS)
        assert done.event == "ai_chat_done"
        stored = await reply(site, user, cid, turn["reply_message_id"])
        assert stored["status"] == "done" and stored["content"] == done.data["text"] == published[0].text

        # The same result delivered again (persona_svc stopped after storing it, before its ack):
        # it is announced again, and EVENTS keeps the first copy only.
        again = await js.publish(
            RESULTS_CHAT, msgspec.json.encode(published[0]), headers={"Nats-Msg-Id": "redelivered"}
        )

        async def handled() -> bool:
            info = await js.consumer_info(STREAM_RESULTS, "persona-results-chat")
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            return bool(floor >= again.seq and not info.num_ack_pending)

        await eventually(handled)
        for subject in (f"events.user.{user.id}", f"events.channel.{cid}"):
            endings = [e for e in await stored_events(js, subject) if e["event"] in CHAT_ENDINGS]
            assert [(e["event"], e["job_id"]) for e in endings] == [("ai_chat_done", turn["job_id"])]
        assert (await reply(site, user, cid, turn["reply_message_id"]))["content"] == published[0].text
