"""Live event fan-out inside one gateway process.

`Hub` holds one core NATS subscription per live subject (`live.events.<kind>.<id>`, the
EVENTS stream's republish, carrying `Nats-Sequence`), shared by every connection that
follows it, and dropped when the last one leaves. Each message becomes one SSE frame,
built once and appended to each follower's `Outbox`: a bounded list the connection drains
in batches. A follower whose outbox is full is closed as a slow client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from chassis import metrics
from chassis.events import EVENT_HEADER

SEQUENCE_HEADER = "Nats-Sequence"


def frame(seq: int, event: str, data: bytes) -> bytes:
    """One SSE message: `id:` the EVENTS sequence, `event:` its name, `data:` the stored JSON."""
    if b"\n" in data:
        data = data.replace(b"\n", b"\ndata: ")
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event.encode(), data)


class Outbox:
    """One connection's bounded queue of frames, fed by the hub, drained by the connection.

    While the connection replays missed events, live frames wait in `pending` with their
    sequence; `go_live(floor)` keeps those above the last replayed one. Later frames at or
    below `floor` (live copies of replayed events still in flight) are dropped."""

    __slots__ = (
        "frames",
        "pending",
        "limit",
        "floor",
        "closed",
        "reason",
        "sending",
        "task",
        "last_write",
        "wrote",
        "heartbeat_due",
        "_waiter",
    )

    def __init__(self, limit: int, *, replaying: bool = False) -> None:
        self.frames: list[bytes] = []
        self.pending: list[tuple[int, bytes]] | None = [] if replaying else None
        self.limit = limit
        self.floor = 0
        self.closed = False
        self.reason = ""
        # Set while the connection awaits the client socket, so a slow client can be cut off
        # even when the socket's buffer is full and that await never returns by itself.
        self.sending = False
        self.task: asyncio.Task[object] | None = asyncio.current_task()
        # `wrote` is set by each write (a flag: cheaper than reading the clock per delivery) and
        # turned into `last_write` by the next tick.
        self.last_write = time.monotonic()
        self.wrote = False
        self.heartbeat_due = False
        self._waiter: asyncio.Future[None] | None = None

    def push(self, seq: int, data: bytes) -> None:
        if self.closed or seq <= self.floor:
            return
        pending = self.pending
        if pending is None:  # the common case, once per delivery: inlined
            frames = self.frames
            if len(frames) < self.limit:
                frames.append(data)
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                return
        elif len(pending) < self.limit:
            pending.append((seq, data))
            return
        metrics.sse_dropped.inc()
        self.close("slow")

    def go_live(self, floor: int) -> None:
        self.floor = floor
        pending, self.pending = self.pending or [], None
        self.frames.extend(data for seq, data in pending if seq > floor)
        if self.frames:
            self._wake()

    def tick(self, now: float, interval: float) -> None:
        """Called periodically by the connection's owner: ask for a heartbeat after `interval` s
        of silence (one timer for every connection instead of one per connection)."""
        if self.wrote:
            self.wrote = False
            self.last_write = now
        elif now - self.last_write >= interval and not self.closed:
            self.heartbeat_due = True
            self._wake()

    def take(self) -> list[bytes]:
        frames, self.frames = self.frames, []
        return frames

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.reason = reason
        self._wake()
        if reason == "slow" and self.sending and self.task is not None:
            self.task.cancel()

    async def wait(self) -> None:
        """Until there is something to send, a heartbeat is due, or the outbox is closed."""
        if self.frames or self.closed or self.heartbeat_due:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Topic:
    __slots__ = ("subject", "outboxes", "sub", "subscribing")

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.outboxes: set[Outbox] = set()
        self.sub: Subscription | None = None
        # Pending while the SUB is sent; a bare future, not an Event (kept per subject, and small).
        self.subscribing: asyncio.Future[None] | None = asyncio.get_running_loop().create_future()


class Hub:
    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.topics: dict[str, _Topic] = {}
        self._probe_subject = nc.new_inbox()
        self._probes: dict[bytes, asyncio.Future[None]] = {}
        self._probe_sub: Subscription | None = None
        self._probe_count = 0

    async def start(self) -> None:
        self._probe_sub = await self.nc.subscribe(self._probe_subject, cb=self._on_probe)

    async def stop(self) -> None:
        if self._probe_sub is not None:
            await self._probe_sub.unsubscribe()

    async def join(self, subjects: Iterable[str], outbox: Outbox) -> None:
        """Follow `subjects`; on return the server has every new subscription, so no event
        stored after this point can be missed live."""
        created = False
        try:
            for subject in subjects:
                created |= await self._join(subject, outbox)
            if created:
                await self._synced()
        except BaseException:
            self.leave(subjects, outbox)
            raise

    async def _synced(self) -> None:
        """Round trip a message through our own connection. nats-py's `flush()` writes its PING
        ahead of queued commands, so its PONG does not prove a SUB was processed; a message
        published after the SUB and received back does."""
        self._probe_count += 1
        token = b"%d" % self._probe_count
        arrived = self._probes[token] = asyncio.get_running_loop().create_future()
        try:
            await self.nc.publish(self._probe_subject, token)
            await asyncio.wait_for(arrived, 10.0)
        finally:
            self._probes.pop(token, None)

    async def _on_probe(self, msg: Msg) -> None:
        arrived = self._probes.get(msg.data)
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def _join(self, subject: str, outbox: Outbox) -> bool:
        topic = self.topics.get(subject)
        if topic is not None:
            topic.outboxes.add(outbox)
            if topic.subscribing is not None:
                await asyncio.shield(topic.subscribing)
            if topic.sub is None:
                raise ConnectionError(f"could not subscribe to {subject}")
            return False
        topic = self.topics[subject] = _Topic(subject)
        topic.outboxes.add(outbox)
        try:
            topic.sub = await self.nc.subscribe(subject, cb=self._deliver(topic))
            metrics.sse_subscriptions.inc()
        except BaseException:
            self.topics.pop(subject, None)
            raise
        finally:
            subscribing, topic.subscribing = topic.subscribing, None
            if subscribing is not None:
                subscribing.set_result(None)
        return True

    def leave(self, subjects: Iterable[str], outbox: Outbox) -> None:
        for subject in subjects:
            topic = self.topics.get(subject)
            if topic is None:
                continue
            topic.outboxes.discard(outbox)
            if not topic.outboxes and topic.sub is not None:
                del self.topics[subject]
                self._unsubscribe(topic.sub)

    def _unsubscribe(self, sub: Subscription) -> None:
        metrics.sse_subscriptions.dec()
        # UNSUB only queues a protocol line and stops the subscription's task: done at once,
        # even when the caller is being cancelled.
        task = asyncio.ensure_future(sub.unsubscribe())
        task.add_done_callback(_ignore_result)

    @staticmethod
    def _deliver(topic: _Topic) -> Callable[[Msg], Awaitable[None]]:
        async def deliver(msg: Msg) -> None:
            headers = msg.headers or {}
            seq = headers.get(SEQUENCE_HEADER)
            if seq is None:
                return
            sse = frame(int(seq), headers.get(EVENT_HEADER, "message"), msg.data)
            n = int(seq)
            for outbox in topic.outboxes:
                outbox.push(n, sse)

        return deliver


def _ignore_result(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
