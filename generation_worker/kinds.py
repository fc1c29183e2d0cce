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
    # Set when a cancel request for this job arrives on `control.cancel.<job_id>`, or when the
    # marker check finds one sent before any worker took it.
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    # The cancel-marker check (True: a cancel stands). The worker starts it before the handler,
    # or, for a kind that starts before it ends (`JobKind.overlaps_check`), the handler's first
    # `check_passed()` does: what the handler began before that (asking the model) goes out first.
    marker_check: asyncio.Future[bool] | None = None
    start_check: Callable[[], asyncio.Future[bool]] | None = None

    @property
    def data(self) -> bytes:
        return self.delivery.data

    @property
    def attempt(self) -> int:
        return self.delivery.attempt

    async def check_passed(self) -> None:
        """Before a job's first event: wait for the cancel-marker check. When it finds a cancel
        this never returns (`cancelled` is set; the handler's cancel watcher stops the job); when
        the check fails it raises, and the job is retried."""
        if self.marker_check is None and self.start_check is not None:
            self.marker_check = self.start_check()
        if self.marker_check is not None and await asyncio.shield(self.marker_check):
            await asyncio.get_running_loop().create_future()

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
    # The handler starts at once and calls `JobContext.check_passed()` before its first event,
    # so its slow first step (a model's first token) overlaps the cancel-marker round trip.
    overlaps_check: bool = False
    # A core subject of fire-and-forget hints for this kind (one worker of the queue group gets
    # each), and what to do with one's payload.
    hint: tuple[str, Callable[[bytes], Awaitable[None]]] | None = None
