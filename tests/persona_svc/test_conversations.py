"""Conversations end to end: greeting, a chat turn written by the worker and persisted here,
exactly once, swipes, cancellation, privacy, and restarts that lose nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
import nats

from chassis import streams
from chassis.bridge import BusClient
from generation_worker.app import create_app as create_worker
from proto.chat import ChatResult, chat_job_decoder, chat_warmup_decoder
from proto.identity import Identity
from proto.jobs import DeadLetter
from proto.subjects import (
    CONTROL_WARMUP_CHAT,
    JOBS_CHAT,
    JOBS_DEAD,
    RESULTS_CHAT,
    STREAM_EVENTS,
    STREAM_JOBS,
    STREAM_RESULTS,
)
from tests.persona_svc.conftest import Site, SiteFactory
from tests.persona_svc.helpers import (
    create,
    jetstream,
    messages,
    send,
    start_chat,
    v2_card,
    wait_reply,
)
from tests.support.pg import fresh_database
from tests.support.poll import eventually


async def test_a_chat_turn_is_streamed_by_the_worker_and_persisted(site: Site) -> None:
    owner, user = await site.user("maker"), await site.user("Sam")
    persona = await create(site.http, owner)
    started = await start_chat(site, user, persona["id"])
    conversation, greeting = started["conversation"], started["messages"][0]
    assert conversation["persona_name"] == "Captain Mara Vell" and conversation["user_id"] == user.id
    # The greeting opens the chat, {{user}} filled in, the alternates as swipes.
    assert (
        greeting["role"] == "assistant"
        and greeting["content"] == "*Mara squints at Sam.* Shut the door, the wind bites."
    )
    assert greeting["swipes"] == [greeting["content"], "*Mara pours tea.* Storm's coming, Sam."]
    picked = await site.http.patch(
        f"/conversations/{conversation['id']}/messages/{greeting['id']}",
        json={"swipe_index": 1},
        headers=user.headers,
    )
    assert picked.json()["data"]["content"] == "*Mara pours tea.* Storm's coming, Sam."

    turn = await send(site, user, conversation["id"], "Tell me about the worst storm you ever saw")
    assert set(turn) == {"job_id", "message_id", "reply_message_id"}
    reply = await wait_reply(site, user, conversation["id"], turn["reply_message_id"])
    assert (
        reply["role"] == "assistant"
        and reply["job_id"] == turn["job_id"]
        and "Tell me about the worst storm" in reply["content"]
    )
    assert reply["swipes"] == [reply["content"]]
    listed = await messages(site, user, conversation["id"])
    assert [(m["seq"], m["role"]) for m in listed] == [(3, "assistant"), (2, "user"), (1, "assistant")]
    assert (
        listed[1]["content"] == "Tell me about the worst storm you ever saw"
        and listed[1]["id"] == turn["message_id"]
    )

    # The stored reply is exactly what was streamed on the conversation's channel.
    async with jetstream(site) as js:
        sub = await js.subscribe(
            f"events.channel.{conversation['id']}", stream=STREAM_EVENTS, ordered_consumer=True
        )
        events: list[dict[str, Any]] = []
        while not events or events[-1]["event"] != "ai_chat_done":
            events.append(json.loads((await sub.next_msg(timeout=10)).data))
        await sub.unsubscribe()
    chunks = "".join(e["delta"] for e in events if e["event"] == "ai_chat_chunk")
    assert chunks == events[-1]["text"] == reply["content"]

    mine = (await site.http.get("/conversations", headers=user.headers)).json()["data"]
    assert [c["id"] for c in mine] == [conversation["id"]]
    assert mine[0]["message_count"] == 3 and mine[0]["last_message"] == reply["content"][:200]
    assert mine[0]["pending_job_id"] is None
    assert (await site.http.get(f"/personas/{persona['id']}")).json()["data"]["chat_count"] == 1


async def test_prompt_is_assembled_and_no_job_is_lost_while_no_worker_runs(start_site: SiteFactory) -> None:
    site = await start_site(worker=False)
    user = await site.user("Sam")
    card = v2_card()
    r = await site.http.post(
        "/personas/import",
        content=json.dumps(card),
        params={"visibility": "public"},
        headers={**user.headers, "content-type": "application/json"},
    )
    persona = r.json()["data"]
    conversation = (await start_chat(site, user, persona["id"]))["conversation"]
    turn = await send(site, user, conversation["id"], "Why do the gulls scream tonight?")
    r = await site.http.post(
        f"/conversations/{conversation['id']}/messages", json={"content": "hello?"}, headers=user.headers
    )
    assert r.status_code == 409 and r.json()["error"]["details"]["job_id"] == turn["job_id"]

    async with jetstream(site) as js:
        raw = await js.get_last_msg(STREAM_JOBS, JOBS_CHAT)
    job = chat_job_decoder.decode(raw.data or b"")
    assert (job.job_id, job.message_id, job.user_id, job.user_name) == (
        turn["job_id"],
        turn["reply_message_id"],
        user.id,
        "Sam",
    )
    prompt = "\n".join(m.content for m in job.messages)
    assert job.messages[0].content.endswith("Write like a sea shanty.")
    assert "Mara believes gulls carry the souls of drowned sailors." in prompt, "lorebook key 'gulls' matched"
    assert "Captain Mara Vell kept the Saltmarsh light for forty years." in prompt
    assert [m.content for m in job.messages if m.name == "example_user"] == ["Hello"]
    assert job.messages[-2].content == "Why do the gulls scream tonight?"
    assert job.messages[-1].content == "Keep replies under 120 words."
    assert "SECRET-NOTE-7781" not in prompt and "{{" not in prompt

    # A worker that starts later takes the waiting job; the reply is stored.
    await site.mesh.app(create_worker(site.settings))
    reply = await wait_reply(site, user, conversation["id"], turn["reply_message_id"])
    assert "Why do the gulls scream tonight" in reply["content"]


async def test_an_opened_chat_hints_the_prompt_its_next_reply_extends(start_site: SiteFactory) -> None:
    site = await start_site(worker=False)
    user = await site.user("Sam")
    persona = await create(site.http, await site.user("maker"))
    nc = await nats.connect(site.settings.nats_url)
    try:
        hints, jobs = await nc.subscribe(CONTROL_WARMUP_CHAT), await nc.subscribe(JOBS_CHAT)
        cid = (await start_chat(site, user, persona["id"]))["conversation"]["id"]
        opened = chat_warmup_decoder.decode((await hints.next_msg(timeout=5)).data)
        turn = await send(site, user, cid, "Is the lamp still lit?")
        first = chat_job_decoder.decode((await jobs.next_msg(timeout=5)).data)
        # The new chat's hint is the first reply's prompt up to the message typed after it.
        assert opened.conversation_id == cid and opened.persona_name == "Captain Mara Vell"
        assert first.messages[: len(opened.messages)] == opened.messages
        assert first.messages[len(opened.messages)].content == "Is the lamp still lit?"
        # Opened again while that reply is pending: nothing to read ahead (the reply reads it).
        r = await site.http.post(f"/conversations/{cid}/warm-up", headers=user.headers)
        assert r.status_code == 204, r.text

        await site.mesh.app(create_worker(site.settings))
        reply = await wait_reply(site, user, cid, turn["reply_message_id"])
        r = await site.http.post(f"/conversations/{cid}/warm-up", headers=user.headers)
        assert r.status_code == 204, r.text
        reopened = chat_warmup_decoder.decode((await hints.next_msg(timeout=5)).data)
        assert reopened.messages[-1].content == reply["content"], "the hint sent while pending was skipped"
        await send(site, user, cid, "And the gulls?")
        second = chat_job_decoder.decode((await jobs.next_msg(timeout=5)).data)
        assert second.messages[: len(reopened.messages)] == reopened.messages
        assert second.messages[len(reopened.messages)].content == "And the gulls?"
    finally:
        await nc.close()


async def test_a_result_delivered_twice_is_stored_once(start_site: SiteFactory) -> None:
    site = await start_site(worker=False)
    owner, user = await site.user("maker"), await site.user("Sam")
    persona = await create(site.http, owner)
    conversation = (await start_chat(site, user, persona["id"]))["conversation"]
    turn = await send(site, user, conversation["id"], "Hello there")
    result = ChatResult(
        job_id=turn["job_id"],
        user_id=user.id,
        conversation_id=conversation["id"],
        message_id=turn["reply_message_id"],
        status="done",
        text="Ahoy. Once is enough.",
        provider="test",
    )
    async with jetstream(site) as js:
        first = await js.publish(RESULTS_CHAT, msgspec.json.encode(result), headers={"Nats-Msg-Id": "dup-1"})
        second = await js.publish(RESULTS_CHAT, msgspec.json.encode(result), headers={"Nats-Msg-Id": "dup-2"})
        assert second.seq > first.seq and not second.duplicate

        async def both_handled() -> bool:
            info = await js.consumer_info(STREAM_RESULTS, "persona-results-chat")
            return bool(
                info.ack_floor and info.ack_floor.stream_seq >= second.seq and not info.num_ack_pending
            )

        await eventually(both_handled)
    listed = await messages(site, user, conversation["id"])
    replies = [m for m in listed if m["role"] == "assistant" and m["seq"] > 1]
    assert len(listed) == 3 and len(replies) == 1
    assert replies[0]["content"] == "Ahoy. Once is enough." and replies[0]["swipes"] == [
        "Ahoy. Once is enough."
    ]
    # A late result for another status changes nothing either.
    late = msgspec.structs.replace(result, status="failed", text="", error="late")
    async with jetstream(site) as js:
        third = await js.publish(RESULTS_CHAT, msgspec.json.encode(late), headers={"Nats-Msg-Id": "dup-3"})

        async def handled() -> bool:
            info = await js.consumer_info(STREAM_RESULTS, "persona-results-chat")
            return bool(info.ack_floor and info.ack_floor.stream_seq >= third.seq)

        await eventually(handled)
    assert (await messages(site, user, conversation["id"]))[0]["content"] == "Ahoy. Once is enough."


async def test_another_users_conversation_is_404(site: Site) -> None:
    owner, user, stranger = await site.user("maker"), await site.user("Sam"), await site.user("eve")
    persona = await create(site.http, owner)
    started = await start_chat(site, user, persona["id"])
    cid, mid = started["conversation"]["id"], started["messages"][0]["id"]
    h = stranger.headers
    http = site.http
    responses = [
        await http.get(f"/conversations/{cid}", headers=h),
        await http.get(f"/conversations/{cid}/messages", headers=h),
        await http.post(f"/conversations/{cid}/messages", json={"content": "hi"}, headers=h),
        await http.post(f"/conversations/{cid}/regenerate", headers=h),
        await http.post(f"/conversations/{cid}/warm-up", headers=h),
        await http.patch(f"/conversations/{cid}/messages/{mid}", json={"content": "x"}, headers=h),
        await http.delete(f"/conversations/{cid}/messages/{mid}", headers=h),
        await http.post(f"/conversations/{cid}/generations/{uuid.uuid4()}/cancel", headers=h),
        await http.delete(f"/conversations/{cid}", headers=h),
        await http.get(f"/conversations/{uuid.uuid4()}", headers=user.headers),
        await http.get("/conversations/not-an-id", headers=user.headers),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert (await http.get(f"/conversations/{cid}")).status_code == 401
    assert (await http.get("/conversations", headers=h)).json()["data"] == []
    # What the SSE relay asks over the bus before it lets someone follow channel:<conversation_id>.
    nc = await nats.connect(site.settings.nats_url)
    try:
        bus = BusClient(nc, nc.jetstream(), site.settings)
        ok = await bus.call("persona", "GET", f"/conversations/{cid}", identity=Identity(user_id=user.id))
        no = await bus.call("persona", "GET", f"/conversations/{cid}", identity=Identity(user_id=stranger.id))
        assert (ok.status, no.status) == (200, 404)
    finally:
        await nc.close()
    # A private persona cannot be chatted with by others.
    private = await create(http, owner, visibility="private")
    assert (await http.post(f"/personas/{private['id']}/conversations", headers=h)).status_code == 404


async def test_regenerate_keeps_swipes_and_messages_can_be_edited_or_deleted(site: Site) -> None:
    owner, user = await site.user("maker"), await site.user("Sam")
    persona = await create(site.http, owner)
    cid = (await start_chat(site, user, persona["id"]))["conversation"]["id"]
    http = site.http
    assert (await http.post(f"/conversations/{cid}/regenerate", headers=user.headers)).status_code == 409
    turn = await send(site, user, cid, "First question")
    first = await wait_reply(site, user, cid, turn["reply_message_id"])
    r = await http.post(f"/conversations/{cid}/regenerate", headers=user.headers)
    assert r.status_code == 202, r.text
    again = r.json()["data"]
    assert again["reply_message_id"] == turn["reply_message_id"] and again["message_id"] is None
    second = await wait_reply(site, user, cid, turn["reply_message_id"])

    async def both_swipes() -> bool:
        m = (await messages(site, user, cid))[0]
        return bool(m["status"] == "done" and len(m["swipes"]) == 2 and m["swipes"][1])

    await eventually(both_swipes)
    second = (await messages(site, user, cid))[0]
    assert second["swipes"][0] == first["content"] and second["swipe_index"] == 1
    assert second["job_id"] == again["job_id"]
    url = f"/conversations/{cid}/messages/{turn['reply_message_id']}"
    picked = (await http.patch(url, json={"swipe_index": 0}, headers=user.headers)).json()["data"]
    assert picked["content"] == first["content"] and picked["swipe_index"] == 0
    r = await http.patch(url, json={"swipe_index": 7}, headers=user.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "swipe_index"
    edited = (await http.patch(url, json={"content": "An edited reply."}, headers=user.headers)).json()[
        "data"
    ]
    assert edited["content"] == "An edited reply." and edited["swipes"][0] == "An edited reply."
    user_url = f"/conversations/{cid}/messages/{turn['message_id']}"
    r = await http.patch(user_url, json={"content": "First question, reworded"}, headers=user.headers)
    assert r.json()["data"]["content"] == "First question, reworded"
    assert (await http.patch(user_url, json={"content": ""}, headers=user.headers)).status_code == 422
    # Deleting the reply leaves the user's message last; regenerate then writes a new reply.
    assert (await http.delete(url, headers=user.headers)).status_code == 204
    assert (await http.delete(url, headers=user.headers)).status_code == 404
    r = await http.post(f"/conversations/{cid}/regenerate", headers=user.headers)
    fresh = r.json()["data"]
    assert fresh["reply_message_id"] != turn["reply_message_id"]
    await wait_reply(site, user, cid, fresh["reply_message_id"])
    assert (await http.delete(f"/conversations/{cid}", headers=user.headers)).status_code == 204
    assert (await http.get(f"/conversations/{cid}", headers=user.headers)).status_code == 404


async def test_cancel_keeps_the_partial_reply(start_site: SiteFactory) -> None:
    # Slow tokens, so the reply is still being written when the cancel arrives.
    site = await start_site(offline_token_delay=0.3)
    owner, user = await site.user("maker"), await site.user("Sam")
    persona = await create(site.http, owner)
    cid = (await start_chat(site, user, persona["id"]))["conversation"]["id"]
    turn = await send(site, user, cid, "Tell me a very long story")

    async def some_text_streamed() -> bool:
        async with jetstream(site) as js:
            try:
                msg = await js.get_last_msg(STREAM_EVENTS, f"events.channel.{cid}")
            except nats.js.errors.NotFoundError:
                return False
            return bool(json.loads(msg.data or b"{}").get("event") == "ai_chat_chunk")

    await eventually(some_text_streamed)
    r = await site.http.post(
        f"/conversations/{cid}/generations/{turn['job_id']}/cancel", headers=user.headers
    )
    assert r.status_code == 202 and r.json()["data"] == {"job_id": turn["job_id"], "stopping": True}
    cancelled: dict[str, Any] = {}

    async def announced() -> bool:
        async with jetstream(site) as js:
            msg = await js.get_last_msg(STREAM_EVENTS, f"events.channel.{cid}")
        cancelled.update(json.loads(msg.data or b"{}"))
        return bool(cancelled["event"] == "ai_chat_cancelled")

    # Announced once stored (the store is written first: tests/persona_svc/test_state_before_event.py).
    await eventually(announced)
    reply = await wait_reply(site, user, cid, turn["reply_message_id"], status="cancelled")
    # The words streamed before the cancel are kept, not the whole reply.
    assert cancelled["text"] == reply["content"] != ""
    r = await site.http.post(
        f"/conversations/{cid}/generations/{turn['job_id']}/cancel", headers=user.headers
    )
    assert r.status_code == 409
    # The conversation is free again.
    conversation = (await site.http.get(f"/conversations/{cid}", headers=user.headers)).json()["data"]
    assert conversation["pending_job_id"] is None


async def test_cancel_without_a_worker_cancels_at_once(start_site: SiteFactory) -> None:
    site = await start_site(worker=False)
    owner, user = await site.user("maker"), await site.user("Sam")
    persona = await create(site.http, owner)
    cid = (await start_chat(site, user, persona["id"]))["conversation"]["id"]
    turn = await send(site, user, cid, "Hello?")
    r = await site.http.post(
        f"/conversations/{cid}/generations/{turn['job_id']}/cancel", headers=user.headers
    )
    assert r.json()["data"] == {"job_id": turn["job_id"], "stopping": False}
    reply = (await messages(site, user, cid))[0]
    assert reply["status"] == "cancelled" and reply["content"] == ""
    # A worker that takes the job later finds the cancel marker; nothing is written over the reply.
    await site.mesh.app(create_worker(site.settings))
    turn2 = await send(site, user, cid, "Are you there now?")
    await wait_reply(site, user, cid, turn2["reply_message_id"])
    stored = {m["id"]: m for m in await messages(site, user, cid)}
    assert stored[turn["reply_message_id"]]["status"] == "cancelled"


async def test_restarting_persona_svc_loses_no_result_and_no_data(
    start_site: SiteFactory, postgres_url: str
) -> None:
    site = await start_site(worker=False, database_url=await fresh_database(postgres_url))
    owner, user = await site.user("maker"), await site.user("Sam")
    persona = await create(site.http, owner)
    cid = (await start_chat(site, user, persona["id"]))["conversation"]["id"]
    turn = await send(site, user, cid, "Will you remember this?")
    # persona_svc goes down; the worker writes the reply meanwhile and its result waits.
    await site.persona.stop()
    await site.mesh.app(create_worker(site.settings))
    async with jetstream(site) as js:

        async def result_published() -> bool:
            try:
                msg = await js.get_last_msg(STREAM_RESULTS, RESULTS_CHAT)
            except nats.js.errors.NotFoundError:
                return False
            return bool(json.loads(msg.data or b"{}").get("job_id") == turn["job_id"])

        await eventually(result_published)
    assert (await site.http.get(f"/conversations/{cid}", headers=user.headers)).status_code == 503
    await site.persona.start()
    reply = await wait_reply(site, user, cid, turn["reply_message_id"])
    assert reply["content"]
    listed = await messages(site, user, cid)
    assert [m["seq"] for m in listed] == [3, 2, 1]
    assert (await site.http.get(f"/personas/{persona['id']}")).json()["data"]["chat_count"] == 1


async def test_dead_jobs_fail_their_reply_and_deleted_personas_stop_the_chat(start_site: SiteFactory) -> None:
    site = await start_site(worker=False)
    owner, user = await site.user("maker"), await site.user("Sam")
    persona = await create(site.http, owner)
    cid = (await start_chat(site, user, persona["id"]))["conversation"]["id"]
    turn = await send(site, user, cid, "Hello?")
    async with jetstream(site) as js:
        raw = await js.get_last_msg(STREAM_JOBS, JOBS_CHAT)
        # What the worker framework publishes when a job fails its last attempt.
        letter = DeadLetter(
            job_id=turn["job_id"],
            kind="chat",
            subject=JOBS_CHAT,
            reason="provider exploded",
            attempts=5,
            payload=raw.data or b"",
        )
        await js.publish(JOBS_DEAD, msgspec.json.encode(letter))
    reply = await wait_reply(site, user, cid, turn["reply_message_id"], status="failed")
    assert reply["error"] == "provider exploded" and reply["content"] == ""
    # The conversation is free again, and regenerate reuses the empty swipe.
    r = await site.http.post(f"/conversations/{cid}/regenerate", headers=user.headers)
    assert r.status_code == 202 and r.json()["data"]["reply_message_id"] == turn["reply_message_id"]
    await site.http.post(
        f"/conversations/{cid}/generations/{r.json()['data']['job_id']}/cancel", headers=user.headers
    )
    assert (await site.http.delete(f"/personas/{persona['id']}", headers=owner.headers)).status_code == 204
    r = await site.http.post(
        f"/conversations/{cid}/messages", json={"content": "still there?"}, headers=user.headers
    )
    assert r.status_code == 409
    assert len(await messages(site, user, cid)) == 3, "the conversation stays readable"


async def test_a_turn_the_job_queue_refuses_is_503_and_leaves_the_chat_free(start_site: SiteFactory) -> None:
    site = await start_site(worker=False)
    user = await site.user("Sam")
    persona = await create(site.http, user)
    conversation = (await start_chat(site, user, persona["id"]))["conversation"]
    async with jetstream(site) as js:
        # The queue answers nothing (longer than a leader election): the job cannot be queued.
        await js.delete_stream(STREAM_JOBS)
        r = await site.http.post(
            f"/conversations/{conversation['id']}/messages", json={"content": "hello?"}, headers=user.headers
        )
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "service_unavailable"
        assert error["message"] == "the job queue is unavailable; retry shortly"
        # The reply that will never be written is marked failed, so the chat is not left busy.
        newest = (await messages(site, user, conversation["id"]))[0]
        assert (newest["role"], newest["status"]) == ("assistant", "failed")
        await streams.ensure_all(js, site.settings)
    turn = await send(site, user, conversation["id"], "hello again")
    assert turn["job_id"]
