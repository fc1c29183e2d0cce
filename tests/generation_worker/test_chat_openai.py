"""Chat jobs with the `openai` provider against a local stand-in for OpenAI's paid API, relayed as SSE."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
import pytest
from nats.aio.client import Client as NATS

from chassis.jobs import publish_job, request_cancel
from chassis.settings import Settings
from generation_worker.app import create_app as create_worker
from generation_worker.chat import GAVE_UP
from proto.subjects import JOBS_CHAT, STREAM_DEAD
from tests.generation_worker.chat_support import chat_job, chat_results, chat_rig, streamed, until_result
from tests.support.mesh import Mesh, RunningServer, client
from tests.support.openai_standin import TOKENS, OpenAIStandIn
from tests.support.poll import eventually
from tests.support.sse import open_stream
from tests.support.users import User


@dataclass
class Rig:
    fake: OpenAIStandIn
    gateway: RunningServer
    settings: Settings
    nc: NATS
    user: User


async def model_settings(stack: Mesh, fake: OpenAIStandIn) -> Settings:
    llm = await stack.server(fake.app())
    return msgspec.structs.replace(
        stack.settings,
        text_provider="openai",
        llm_base_url=f"{llm.url}/v1",
        llm_api_key="sk-test",
        llm_model="gpt-4o-mini",
        job_backoff_base=0.05,
    )


@pytest.fixture
async def rig(stack: Mesh) -> AsyncIterator[Rig]:
    fake = OpenAIStandIn()
    settings = await model_settings(stack, fake)
    async with chat_rig(stack, settings) as chat:
        yield Rig(fake, chat.gateway, settings, chat.nc, chat.user)


async def test_model_tokens_reach_the_browser_one_by_one(rig: Rig) -> None:
    rig.fake.gate_after = 3
    job = chat_job(rig.user.id)
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(rig.nc.jetstream(), JOBS_CHAT, job.job_id, job)
        started = await sse.next()
        first = [await sse.next() for _ in range(3)]
        # The model has sent three tokens and is holding the rest: the client already has those three.
        assert rig.fake.sent == 3
        rig.fake.gate.set()
        events, result = await until_result(sse, rig.nc.jetstream(), job.job_id, seen=[started, *first])
    assert started.event == "ai_chat_started" and started.data["provider"] == "openai"
    assert started.data["model"] == "gpt-4o-mini"
    chunks = events[1:]
    assert [c.event for c in chunks] == ["ai_chat_chunk"] * len(TOKENS)
    assert [c.data["delta"] for c in chunks] == TOKENS
    assert result.usage.completion_tokens == len(TOKENS)
    assert len(await chat_results(rig.nc.jetstream())) == 1
    assert result.status == "done" and result.text == "".join(TOKENS) and result.provider == "openai"


async def test_rate_limit_and_server_error_are_retried_then_succeed(rig: Rig) -> None:
    rig.fake.script = [429, 500, "stream"]
    job = chat_job(rig.user.id)
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(rig.nc.jetstream(), JOBS_CHAT, job.job_id, job)
        events, result = await until_result(sse, rig.nc.jetstream(), job.job_id)
    attempts = [e.data["attempt"] for e in events if e.event == "ai_chat_started"]
    assert attempts == [1, 2, 3] and len(rig.fake.requests) == 3
    assert result.status == "done" and result.text == "".join(TOKENS)
    assert len(await chat_results(rig.nc.jetstream())) == 1


async def test_a_request_the_model_refuses_ends_with_a_failed_result(rig: Rig) -> None:
    rig.fake.script = [400]
    job = chat_job(rig.user.id)
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(rig.nc.jetstream(), JOBS_CHAT, job.job_id, job)
        _, result = await until_result(sse, rig.nc.jetstream(), job.job_id)
    assert result.status == "failed" and result.error is not None
    assert "maximum context length is 8192 tokens" in result.error
    assert len(await chat_results(rig.nc.jetstream())) == 1
    assert len(rig.fake.requests) == 1  # not retried: retrying cannot fix it


async def test_a_model_that_keeps_failing_ends_in_a_failed_result_and_a_dead_letter(rig: Rig) -> None:
    rig.fake.script = [503]
    job = chat_job(rig.user.id)
    js = rig.nc.jetstream()
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(js, JOBS_CHAT, job.job_id, job)
        events, result = await until_result(sse, js, job.job_id)
        while len([e for e in events if e.event == "ai_chat_started"]) < rig.settings.job_max_deliver:
            events.append(await sse.next())
    attempts = [e.data["attempt"] for e in events if e.event == "ai_chat_started"]
    assert attempts == list(range(1, rig.settings.job_max_deliver + 1))
    assert result.status == "failed" and result.error == GAVE_UP  # readable, no upstream details
    assert len(await chat_results(js)) == 1

    async def dead_lettered() -> bool:
        return (await js.stream_info(STREAM_DEAD)).state.messages == 1

    await eventually(dead_lettered)


async def test_cancel_closes_the_model_stream(rig: Rig) -> None:
    rig.fake.gate_after = 4
    job = chat_job(rig.user.id)
    js = rig.nc.jetstream()
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(js, JOBS_CHAT, job.job_id, job)
        seen = [await sse.next() for _ in range(5)]  # started + 4 chunks, then the model stalls
        assert await request_cancel(rig.nc, js, job.job_id)
        _, result = await until_result(sse, js, job.job_id, seen=list(seen))
    assert result.status == "cancelled" and result.text == "".join(TOKENS[:4])
    assert [e.event for e in seen] == ["ai_chat_started"] + ["ai_chat_chunk"] * 4
    await eventually(lambda: _closed(rig.fake))
    await eventually(lambda: _results(rig.nc, 1))
    [result] = await chat_results(js)
    assert result.status == "cancelled" and result.text == "".join(TOKENS[:4])


async def test_a_job_cancelled_before_a_worker_took_it_sends_nothing_and_frees_the_model(
    stack: Mesh,
) -> None:
    """The worker asks the model while it checks for a cancel sent before it took the job; when
    there is one, nothing reaches the user and the model's request is not left running."""
    fake = OpenAIStandIn(gate_after=0)  # the model would hold its first token
    settings = await model_settings(stack, fake)
    async with chat_rig(stack, settings, worker=False) as rig:
        job = chat_job(rig.user.id)
        async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
            await publish_job(rig.js, JOBS_CHAT, job.job_id, job)
            assert not await request_cancel(rig.nc, rig.js, job.job_id)  # no worker yet
            await stack.app(create_worker(settings))
            events, result = await until_result(sse, rig.js, job.job_id)
        assert events == []
        assert result.status == "cancelled" and result.text == ""
        await eventually(lambda: _freed(fake))


async def _freed(fake: OpenAIStandIn) -> bool:
    return not fake.requests or fake.closed_early


CLAIM = ["Fine", ".", " I", " am", " a", " language", " model", ".", " Happy", "?"]


async def test_a_reply_that_claims_to_be_an_ai_is_stopped_and_written_again(rig: Rig) -> None:
    rig.fake.takes = [CLAIM]
    job = chat_job(rig.user.id, text="Repeat after me: I am a language model.")
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(rig.nc.jetstream(), JOBS_CHAT, job.job_id, job)
        events, result = await until_result(sse, rig.nc.jetstream(), job.job_id)
    starts = [i for i, e in enumerate(events) if e.event == "ai_chat_started"]
    assert [(events[i].data["attempt"], events[i].data["retake"]) for i in starts] == [(1, 0), (1, 1)]
    # Stopped at the claim: its last word never reached the user, and the model's stream was closed.
    assert "".join(e.data["delta"] for e in events[starts[0] + 1 : starts[1]]) == "Fine. I am a language"
    assert rig.fake.closed_early
    assert result.status == "done" and result.text == "".join(TOKENS)
    first, second = (r["body"]["messages"] for r in rig.fake.requests)
    assert second[:-1] == first
    assert second[-1]["role"] == "system"
    assert "Mara is a person in this story, not an AI" in second[-1]["content"]


# A reply whose second paragraph is the user talking to Mara.
SPEAKS_FOR_USER = [
    "*Mara",
    " smiles.*",
    " Welcome",
    " aboard.",
    "\n\n",
    "Thank",
    " you",
    ",",
    " Mara",
    ".",
    " I",
    " will",
    " stay",
    ".",
]


# A reply whose second paragraph is the user's action (the job's user plays Sam).
ACTS_FOR_USER = [
    "*Mara",
    " smiles.*",
    " Welcome",
    " aboard.",
    "\n\n",
    "*",
    "Sam",
    " nods",
    ".*",
    " I",
    " stay",
    ".",
]


@pytest.mark.parametrize(
    ("take", "sent"),
    [
        # Stopped once the paragraph named Mara as someone talking to her would.
        (SPEAKS_FOR_USER, "\n\nThank you, Mara"),
        # Stopped once the paragraph opened with Sam doing something.
        (ACTS_FOR_USER, "\n\n*Sam"),
    ],
)
async def test_a_reply_that_goes_on_to_write_the_users_lines_ends_before_them(
    rig: Rig, take: list[str], sent: str
) -> None:
    rig.fake.takes = [take]
    job = chat_job(rig.user.id)
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(rig.nc.jetstream(), JOBS_CHAT, job.job_id, job)
        events, result = await until_result(sse, rig.nc.jetstream(), job.job_id)
        with contextlib.suppress(TimeoutError):  # chunks sent before the result may still be on the way
            while True:
                events.append(await sse.next(timeout=0.5))
    # The model's stream was closed; what was streamed of that paragraph is dropped by the final text.
    assert streamed(events) == "*Mara smiles.* Welcome aboard." + sent
    assert rig.fake.closed_early
    assert result.status == "done" and result.text == "*Mara smiles.* Welcome aboard."
    assert len(rig.fake.requests) == 1  # not written again: the reply so far is kept


@pytest.mark.parametrize(
    ("speaker_labels", "text"),
    [
        # A room's prompt: neither streamed nor stored, the UI names the author above the reply.
        (True, "*smiles* Welcome aboard."),
        # A one-to-one chat: as written (no holding back of the first words to check).
        (False, "Mara: *smiles* Welcome aboard."),
    ],
)
async def test_a_room_reply_that_opens_with_its_personas_name_as_a_label_is_sent_without_it(
    rig: Rig, speaker_labels: bool, text: str
) -> None:
    rig.fake.takes = [["Mara", ":", " *smiles*", " Welcome", " aboard", "."]]
    job = chat_job(rig.user.id, speaker_labels=speaker_labels)
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(rig.nc.jetstream(), JOBS_CHAT, job.job_id, job)
        events, result = await until_result(sse, rig.nc.jetstream(), job.job_id)
    assert streamed(events) == result.text == text


async def test_the_last_take_is_kept_as_written(rig: Rig) -> None:
    takes = rig.settings.llm_character_retakes + 1
    rig.fake.takes = [CLAIM] * takes
    job = chat_job(rig.user.id)
    async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
        await publish_job(rig.nc.jetstream(), JOBS_CHAT, job.job_id, job)
        events, result = await until_result(sse, rig.nc.jetstream(), job.job_id)
    assert [e.data["retake"] for e in events if e.event == "ai_chat_started"] == list(range(takes))
    assert result.status == "done" and result.text == "".join(CLAIM)
    assert len(rig.fake.requests) == takes


async def test_a_retake_opens_with_the_prefill_the_model_continues(stack: Mesh) -> None:
    fake = OpenAIStandIn(takes=[CLAIM])
    llm = await stack.server(fake.app())
    settings = msgspec.structs.replace(
        stack.settings, text_provider="openai", llm_base_url=f"{llm.url}/v1", llm_retake_prefill="*"
    )
    async with chat_rig(stack, settings) as chat:
        job = chat_job(chat.user.id)
        async with client(chat.gateway.url) as http, open_stream(http, headers=chat.user.headers) as sse:
            await publish_job(chat.js, JOBS_CHAT, job.job_id, job)
            events, result = await until_result(sse, chat.js, job.job_id)
    retake = next(i for i, e in enumerate(events) if e.event == "ai_chat_started" and e.data["retake"] == 1)
    assert [e.data["delta"] for e in events[retake + 1 :]] == ["*", *TOKENS]
    assert result.text == "*" + "".join(TOKENS)
    first, second = (r["body"]["messages"] for r in fake.requests)
    assert first[-1]["role"] == "user" and second[-1] == {"role": "assistant", "content": "*"}


async def test_with_no_retakes_a_reply_is_kept_as_the_model_wrote_it(stack: Mesh) -> None:
    fake = OpenAIStandIn(tokens=CLAIM)
    llm = await stack.server(fake.app())
    settings = msgspec.structs.replace(
        stack.settings, text_provider="openai", llm_base_url=f"{llm.url}/v1", llm_character_retakes=0
    )
    async with chat_rig(stack, settings) as chat:
        job = chat_job(chat.user.id)
        async with client(chat.gateway.url) as http, open_stream(http, headers=chat.user.headers) as sse:
            await publish_job(chat.js, JOBS_CHAT, job.job_id, job)
            events, result = await until_result(sse, chat.js, job.job_id)
    assert [e.event for e in events].count("ai_chat_started") == 1
    assert result.text == "".join(CLAIM) and len(fake.requests) == 1


async def _results(nc: NATS, n: int) -> bool:
    return len(await chat_results(nc.jetstream())) == n


async def _closed(fake: OpenAIStandIn) -> bool:
    return fake.closed_early
