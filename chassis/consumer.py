"""The JetStream worker pattern, shared by the generation worker and the services'
result consumers: a durable pull consumer, a fetch loop bounded by a concurrency
limit, `in_progress()` heartbeats while a message is handled, ack after success,
`nak(delay=…)` with a growing delay on failure, a dead-letter hook after
`max_deliver`, and a clean stop (no new fetches; running handlers finish or are
nak'ed so another process takes them at once)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from chassis.bus import ensure_consumer

log = structlog.get_logger("chassis.consumer")


class Retry(Exception):
    """A transient failure: redeliver after `delay` (or the growing default)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class Fatal(Exception):
    """A failure no retry can fix (e.g. a malformed message): dead-letter it now."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Delivery:
    msg: Msg
    attempt: int
    max_deliver: int

    @property
    def data(self) -> bytes:
        return self.msg.data

    @property
    def final_attempt(self) -> bool:
        return self.max_deliver > 0 and self.attempt >= self.max_deliver

    def header(self, name: str) -> str | None:
        return (self.msg.headers or {}).get(name)


Handler = Callable[[Delivery], Awaitable[None]]
DeadHandler = Callable[[Delivery, str], Awaitable[None]]


@dataclass
class ConsumerSpec:
    stream: str
    subject: str
    durable: str
    handler: Handler
    concurrency: int = 4
    ack_wait: float = 30.0
    max_deliver: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    # Called on the last failed delivery, before the message is terminated.
    on_dead: DeadHandler | None = None


class PullConsumer:
    def __init__(self, js: JetStreamContext, spec: ConsumerSpec, *, shutdown_grace: float = 20.0) -> None:
        self.js = js
        self.spec = spec
        self.shutdown_grace = shutdown_grace
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        spec = self.spec
        await ensure_consumer(
            self.js,
            spec.stream,
            api.ConsumerConfig(
                durable_name=spec.durable,
                name=spec.durable,
                filter_subject=spec.subject,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=spec.ack_wait,
                max_deliver=spec.max_deliver,
                max_ack_pending=max(spec.concurrency * 4, 64),
                deliver_policy=api.DeliverPolicy.ALL,
            ),
        )
        self._sub = await self.js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
        self._loop_task = asyncio.create_task(self._loop(), name=f"consumer:{spec.durable}")

    async def stop(self) -> None:
        """Stop fetching; give running handlers `shutdown_grace` seconds, then cancel (nak) them."""
        self._stopping.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=self.shutdown_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()

    async def _loop(self) -> None:
        slots = asyncio.Semaphore(self.spec.concurrency)
        while not self._stopping.is_set():
            await slots.acquire()
            if self._stopping.is_set():
                slots.release()
                break
            try:
                msgs = await self._sub.fetch(1, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                slots.release()
                continue
            except Exception as exc:  # noqa: BLE001 - bus hiccup: the loop must survive it
                slots.release()
                log.warning("fetch failed", durable=self.spec.durable, error=repr(exc))
                await asyncio.sleep(0.5)
                continue
            if not msgs:
                slots.release()
                continue
            for i, msg in enumerate(msgs):
                if i:
                    await slots.acquire()
                task = asyncio.create_task(self._handle(msg))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
                task.add_done_callback(lambda _: slots.release())

    def backoff(self, attempt: int) -> float:
        return float(min(self.spec.backoff_base * 2 ** (attempt - 1), self.spec.backoff_max))

    async def _handle(self, msg: Msg) -> None:
        spec = self.spec
        delivery = Delivery(msg, int(msg.metadata.num_delivered or 1), spec.max_deliver)
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        started = time.perf_counter()
        try:
            await spec.handler(delivery)
        except asyncio.CancelledError:
            # Shutting down mid-job: hand it back at once instead of waiting for ack_wait.
            with contextlib.suppress(Exception):
                await msg.nak()
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is retried or dead-lettered
            reason = exc.reason if isinstance(exc, Retry | Fatal) else f"{type(exc).__name__}: {exc}"
            if delivery.final_attempt or isinstance(exc, Fatal):
                log.error("giving up", durable=spec.durable, attempt=delivery.attempt, reason=reason)
                if spec.on_dead is not None:
                    try:
                        await spec.on_dead(delivery, reason)
                    except Exception:
                        log.exception("dead-letter hook failed", durable=spec.durable)
                        with contextlib.suppress(Exception):
                            await msg.nak(delay=self.backoff(delivery.attempt))
                        return
                with contextlib.suppress(Exception):
                    await msg.term()
                return
            delay = (
                exc.delay
                if isinstance(exc, Retry) and exc.delay is not None
                else self.backoff(delivery.attempt)
            )
            log.warning(
                "retrying",
                durable=spec.durable,
                attempt=delivery.attempt,
                delay=delay,
                reason=reason,
                exc_info=not isinstance(exc, Retry),
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
            return
        finally:
            heartbeat.cancel()
            log.debug("handled", durable=spec.durable, seconds=round(time.perf_counter() - started, 4))
        await msg.ack()

    async def _heartbeat(self, msg: Msg) -> None:
        interval = max(self.spec.ack_wait / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()
