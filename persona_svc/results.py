"""The durable consumers persona_svc runs: chat results, draft results, and dead jobs.

Each follows the worker pattern (`chassis.consumer.PullConsumer`): a message is acked only
after it is stored and its ending event published (state before event, docs/events.md),
retried with backoff when the database is unavailable, and handled idempotently by job id, so
a redelivery or a duplicate publish stores nothing twice and announces nothing twice.
A message that can never be decoded is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import msgspec
import structlog
from nats.js import JetStreamContext

from chassis.consumer import ConsumerSpec, Delivery, PullConsumer, Retry
from chassis.db import is_unavailable
from chassis.settings import Settings
from persona_svc.chat import ChatService
from persona_svc.service import PersonaService
from proto.chat import chat_result_decoder
from proto.jobs import DeadLetter
from proto.personas import draft_result_decoder
from proto.subjects import JOBS_DEAD, RESULTS_CHAT, RESULTS_DRAFT, STREAM_DEAD, STREAM_RESULTS

log = structlog.get_logger("persona_svc.results")
T = TypeVar("T")
_dead_letter_decoder = msgspec.json.Decoder(DeadLetter)

DURABLE_CHAT = "persona-results-chat"
DURABLE_DRAFT = "persona-results-draft"
DURABLE_DEAD = "persona-dead-jobs"


def _handler(
    name: str, decode: Callable[[bytes], T], store: Callable[[T], Awaitable[None]]
) -> Callable[[Delivery], Awaitable[None]]:
    async def handle(delivery: Delivery) -> None:
        try:
            message = decode(delivery.data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            log.error("undecodable message dropped", consumer=name, error=str(exc))
            return
        try:
            await store(message)
        except Exception as exc:
            if is_unavailable(exc):
                raise Retry(f"database unavailable: {exc!r}") from exc
            raise

    return handle


@contextlib.asynccontextmanager
async def consuming(
    js: JetStreamContext, settings: Settings, personas: PersonaService, chat: ChatService
) -> AsyncIterator[list[PullConsumer]]:
    def spec(
        stream: str, subject: str, durable: str, handler: Callable[[Delivery], Awaitable[None]]
    ) -> ConsumerSpec:
        return ConsumerSpec(
            stream=stream,
            subject=subject,
            durable=durable,
            handler=handler,
            concurrency=8,
            ack_wait=settings.job_ack_wait,
            max_deliver=-1,
            backoff_base=settings.job_backoff_base,
        )

    consumers = [
        PullConsumer(
            js,
            spec(
                STREAM_RESULTS,
                RESULTS_CHAT,
                DURABLE_CHAT,
                _handler("chat", chat_result_decoder.decode, chat.on_result),
            ),
        ),
        PullConsumer(
            js,
            spec(
                STREAM_RESULTS,
                RESULTS_DRAFT,
                DURABLE_DRAFT,
                _handler("draft", draft_result_decoder.decode, personas.on_draft_result),
            ),
        ),
        PullConsumer(
            js,
            spec(
                STREAM_DEAD,
                JOBS_DEAD,
                DURABLE_DEAD,
                _handler("dead", _dead_letter_decoder.decode, chat.on_dead_letter),
            ),
        ),
    ]
    started: list[PullConsumer] = []
    try:
        for consumer in consumers:
            await consumer.start()
            started.append(consumer)
        yield started
    finally:
        await asyncio.gather(*(consumer.stop() for consumer in started))
