"""Helpers for the chat tests: a job, every ChatResult published so far, and a reply's live
events up to its result (the worker sends no ending event: persona_svc announces the stored reply)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from chassis.settings import Settings
from generation_worker.app import create_app as create_worker
from proto.chat import ChatJob, ChatResult, PromptMessage, chat_result_decoder
from proto.subjects import RESULTS_CHAT, STREAM_RESULTS
from tests.support.mesh import Mesh, RunningServer, client
from tests.support.sse import SseEvent, SseStream, events_gateway
from tests.support.users import User, sign_up

SYSTEM = (
    "You are Captain Mara Vell, a retired lighthouse keeper who collects storm stories. "
    "Personality: gruff, kind, superstitious about gulls."
)


@dataclass
class ChatRig:
    """An events gateway, a bus connection and a signed-up user whose channel the jobs stream to."""

    gateway: RunningServer
    nc: NATS
    js: JetStreamContext
    user: User


@contextlib.asynccontextmanager
async def chat_rig(
    stack: Mesh, settings: Settings | None = None, *, worker: bool = True
) -> AsyncIterator[ChatRig]:
    """`worker`: an in-process worker runs the jobs (a test may start its own instead)."""
    settings = settings or stack.settings
    gateway = await events_gateway(stack, settings)
    if worker:
        await stack.app(create_worker(settings))
    nc = await nats.connect(settings.nats_url)
    try:
        async with client(gateway.url) as http:
            user = await sign_up(http)
        yield ChatRig(gateway, nc, nc.jetstream(), user)
    finally:
        await nc.close()


def chat_job(
    user_id: str, *, text: str = "Tell me about the worst storm you ever saw", **over: object
) -> ChatJob:
    fields: dict[str, object] = {
        "job_id": uuid.uuid4().hex,
        "user_id": user_id,
        "conversation_id": uuid.uuid4().hex,
        "message_id": uuid.uuid4().hex,
        "persona_id": uuid.uuid4().hex,
        "persona_name": "Mara",
        "user_name": "Sam",
        "messages": [PromptMessage(role="system", content=SYSTEM), PromptMessage(role="user", content=text)],
    }
    fields.update(over)
    return ChatJob(**fields)  # type: ignore[arg-type]


async def chat_results(js: JetStreamContext, subject: str = RESULTS_CHAT) -> list[ChatResult]:
    """Every message on `subject` (`results.chat`), oldest first."""
    sub = await js.pull_subscribe(
        subject,
        durable=None,
        stream=STREAM_RESULTS,
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, deliver_policy=api.DeliverPolicy.ALL),
    )
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        out: list[ChatResult] = []
        while len(out) < pending:
            msgs = await sub.fetch(pending - len(out), timeout=5)
            out += [chat_result_decoder.decode(m.data) for m in msgs]
        return out
    finally:
        await sub.unsubscribe()


def streamed(events: list[SseEvent]) -> str:
    """The text the chunks of the latest attempt spell (a new `ai_chat_started` starts over)."""
    starts = [i for i, e in enumerate(events) if e.event == "ai_chat_started"]
    latest = events[starts[-1] :] if starts else events
    return "".join(e.data["delta"] for e in latest if e.event == "ai_chat_chunk")


async def until_result(
    sse: SseStream,
    js: JetStreamContext,
    job_id: str,
    timeout: float = 60.0,
    seen: list[SseEvent] | None = None,
) -> tuple[list[SseEvent], ChatResult]:
    """The live events of `job_id` until its `ChatResult` is published and every chunk of the
    result's text has arrived (the chunks precede the result on the worker's connection); `seen`:
    the events read before, which this extends."""
    seen = [] if seen is None else seen
    async with asyncio.timeout(timeout):
        while True:
            try:
                seen.append(await sse.next(timeout=0.2))
                continue
            except TimeoutError:
                pass
            with contextlib.suppress(TimeoutError):
                result = next((r for r in await chat_results(js) if r.job_id == job_id), None)
                # (a reply cut short of the user's lines streamed more than its text keeps)
                if result is not None and streamed(seen).startswith(result.text):
                    return seen, result
