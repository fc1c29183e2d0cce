"""Consumers declared once: a `Subscriber` names its stream, subject, durable, decoder and
handler together (in the spirit of FastStream's `@broker.subscriber(...)`), and `consuming(...)`
runs a component's list of them as `PullConsumer`s for the length of its lifespan.

The handler gets the decoded message. A message that can never be decoded is logged and
dropped (or handed to `on_undecodable`); an unavailable database (or one of `unavailable`)
becomes a `Retry`, so the message waits for it instead of being given up on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
import structlog
from nats.js import JetStreamContext

from chassis.consumer import ConsumerSpec, DeadHandler, Delivery, PullConsumer, Retry
from chassis.db import is_unavailable
from chassis.settings import Settings
from proto.subjects import stream_of

log = structlog.get_logger("chassis.subscribers")
T = TypeVar("T")

# The delivery being handled, for a handler that needs more than the message (its attempt,
# a heartbeat): like FastStream's `Context()`, so that handlers keep one argument.
current_delivery: ContextVar[Delivery] = ContextVar("current_delivery")

UndecodableHandler = Callable[[Delivery, str], Awaitable[None]]


@dataclass(kw_only=True)
class Subscriber(Generic[T]):
    subject: str
    durable: str
    decoder: msgspec.json.Decoder[T]
    handler: Callable[[T], Awaitable[object]]
    concurrency: int = 4
    # -1: never give up (a result waits for the database however long that takes).
    max_deliver: int = -1
    # Delay before a retry for an unavailable dependency; None: the growing backoff.
    retry_delay: float | None = None
    # Besides an unavailable database, what else means "retry later".
    unavailable: tuple[type[Exception], ...] = ()
    on_undecodable: UndecodableHandler | None = None
    on_dead: DeadHandler | None = None
    # Where `subject` is stored; by default the mesh's stream for it (proto.subjects.stream_of).
    stream: str = ""

    def __post_init__(self) -> None:
        self.stream = self.stream or stream_of(self.subject)

    async def handle(self, delivery: Delivery) -> None:
        try:
            message = self.decoder.decode(delivery.data)
        except msgspec.DecodeError as exc:  # ValidationError included
            # It can never be applied; retrying would only block the ones behind it.
            if self.on_undecodable is not None:
                await self.on_undecodable(delivery, str(exc))
                return
            log.error(
                "undecodable message dropped",
                consumer=self.durable,
                error=str(exc),
                job_id=delivery.header("Job-Id"),
            )
            return
        token = current_delivery.set(delivery)
        try:
            await self.handler(message)
        except Exception as exc:
            if is_unavailable(exc) or isinstance(exc, self.unavailable):
                raise Retry(f"unavailable: {exc!r}", self.retry_delay) from exc
            raise
        finally:
            current_delivery.reset(token)

    def spec(self, settings: Settings) -> ConsumerSpec:
        return ConsumerSpec(
            stream=self.stream,
            subject=self.subject,
            durable=self.durable,
            handler=self.handle,
            concurrency=self.concurrency,
            ack_wait=settings.job_ack_wait,
            max_deliver=self.max_deliver,
            backoff_base=settings.job_backoff_base,
            on_dead=self.on_dead,
        )


@contextlib.asynccontextmanager
async def consuming(
    js: JetStreamContext, settings: Settings, subscribers: Sequence[Subscriber[Any]]
) -> AsyncIterator[list[PullConsumer]]:
    """Start every subscriber's consumer; on exit stop them together, so in-flight handlers
    share one `worker_shutdown_grace`."""
    started: list[PullConsumer] = []
    try:
        for sub in subscribers:
            consumer = PullConsumer(js, sub.spec(settings), shutdown_grace=settings.worker_shutdown_grace)
            await consumer.start()
            started.append(consumer)
        yield started
    finally:
        await asyncio.gather(*(consumer.stop() for consumer in started))
