"""A job kind: the subject it is consumed from, its handler and its concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from chassis.consumer import Delivery
from chassis.events import EventPublisher
from chassis.settings import Settings
from proto.jobs import JobBase


@dataclass
class JobContext:
    """What a job handler gets besides its payload."""

    delivery: Delivery
    job: JobBase
    settings: Settings
    nc: NATS
    js: JetStreamContext
    events: EventPublisher
    # Set when a cancel request for this job arrives on `control.cancel.<job_id>`.
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def data(self) -> bytes:
        return self.delivery.data

    @property
    def attempt(self) -> int:
        return self.delivery.attempt

    async def heartbeat(self) -> None:
        """Tell JetStream the job is alive (the consumer also does so on a timer)."""
        await self.delivery.msg.in_progress()


JobHandler = Callable[[JobContext], Awaitable[None]]


@dataclass
class JobKind:
    name: str
    subject: str
    handler: JobHandler
    concurrency: int
    # Releases what the kind holds (e.g. an HTTP client), called when the worker stops.
    close: Callable[[], Awaitable[None]] | None = None
    # Raises when what the kind needs (its model) does not answer: a check of the worker's /readyz.
    ready: Callable[[], Awaitable[None]] | None = None
