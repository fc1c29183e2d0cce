"""The worker as a component: no HTTP API; a lifespan holding one durable pull consumer
per job kind, and a health port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import structlog
from nats.aio.msg import Msg
from starlette.applications import Starlette

from chassis import metrics
from chassis.app import ServiceContext, create_service_app
from chassis.consumer import DeadHandler, Delivery, PullConsumer
from chassis.events import EventPublisher
from chassis.jobs import CancelMarkers
from chassis.settings import Settings
from chassis.subscribers import Subscriber, UndecodableHandler, consuming, current_delivery
from generation_worker.kinds import JobContext, JobKind
from generation_worker.registry import job_kinds
from proto.codec import json_encoder
from proto.jobs import DeadLetter, JobBase, JobFailed, job_base_decoder
from proto.subjects import JOBS_DEAD, STREAM_JOBS, cancel_subject, user_channel

COMPONENT = "generation_worker"
# One worker of them all takes each hint.
HINTS_QUEUE = "workers"
log = structlog.get_logger(COMPONENT)


class Worker:
    def __init__(self, ctx: ServiceContext, kinds: list[JobKind]) -> None:
        self.ctx = ctx
        self.kinds = kinds
        self.events = EventPublisher(ctx.js, ctx.nc)
        self.cancels = CancelMarkers(ctx.js)
        self.consumers: list[PullConsumer] = []
        self._stack = contextlib.AsyncExitStack()

    def subscribers(self) -> list[Subscriber[JobBase]]:
        s = self.ctx.settings
        return [
            Subscriber(
                subject=kind.subject,
                durable=f"worker-{kind.name}",
                decoder=job_base_decoder,
                handler=self._handler(kind),
                concurrency=kind.concurrency,
                max_deliver=s.job_max_deliver,
                on_undecodable=self._malformed(kind),
                on_dead=self._dead(kind),
            )
            for kind in self.kinds
        ]

    async def start(self) -> None:
        self.consumers = await self._stack.enter_async_context(
            consuming(self.ctx.js, self.ctx.settings, self.subscribers())
        )
        for kind in self.kinds:
            if kind.hint is not None:
                subject, on_hint = kind.hint
                sub = await self.ctx.nc.subscribe(subject, queue=HINTS_QUEUE, cb=_payload(on_hint))
                self._stack.push_async_callback(sub.unsubscribe)
        # Started means the server has the subscriptions: a hint sent next reaches this worker.
        await self.ctx.nc.flush()

    async def stop(self) -> None:
        # Together: each consumer waits out its in-flight fetch, and jobs share one grace period.
        await self._stack.aclose()
        for kind in self.kinds:
            if kind.close is not None:
                await kind.close()

    def _handler(self, kind: JobKind) -> Callable[[JobBase], Awaitable[None]]:
        async def handle(job: JobBase) -> None:
            structlog.contextvars.bind_contextvars(job_id=job.job_id, request_id=job.request_id)
            job_ctx = JobContext(
                current_delivery.get(), job, self.ctx.settings, self.ctx.nc, self.ctx.js, self.events
            )
            cancel_sub = await self.ctx.nc.subscribe(cancel_subject(job.job_id), cb=self._on_cancel(job_ctx))
            metrics.jobs_running.labels(kind.name).inc()
            timer = metrics.job_seconds.labels(kind.name).time()
            # Checked after subscribing: a cancel sent before this point left its marker.
            job_ctx.start_check = lambda: self._start_check(job_ctx)
            try:
                if not kind.overlaps_check:
                    job_ctx.marker_check = self._start_check(job_ctx)
                    await asyncio.shield(job_ctx.marker_check)
                with timer:
                    await kind.handler(job_ctx)
                metrics.jobs_processed.labels(kind.name, "done").inc()
            except BaseException:
                metrics.jobs_processed.labels(kind.name, "retried").inc()
                raise
            finally:
                metrics.jobs_running.labels(kind.name).dec()
                await cancel_sub.unsubscribe()
                if job_ctx.marker_check is not None:
                    job_ctx.marker_check.cancel()

        return handle

    def _start_check(self, job_ctx: JobContext) -> asyncio.Future[bool]:
        check = asyncio.ensure_future(self._marker(job_ctx))
        # A failed check fails the job where it is awaited; once the job is over it no longer matters.
        check.add_done_callback(lambda f: f.cancelled() or f.exception())
        return check

    async def _marker(self, job_ctx: JobContext) -> bool:
        found = await self.cancels.requested(job_ctx.job.job_id)
        if found:
            job_ctx.cancelled.set()
        return found

    def _malformed(self, kind: JobKind) -> UndecodableHandler:
        async def malformed(delivery: Delivery, error: str) -> None:
            # A malformed job can never succeed: drop it to the dead letters now.
            await self._dead_letter(kind, delivery, None, f"malformed job: {error}")

        return malformed

    @staticmethod
    def _on_cancel(job_ctx: JobContext) -> Callable[[Msg], Awaitable[None]]:
        async def on_cancel(msg: Msg) -> None:
            job_ctx.cancelled.set()
            if msg.reply:
                await job_ctx.nc.publish(msg.reply, b'{"cancelling": true}')

        return on_cancel

    def _dead(self, kind: JobKind) -> DeadHandler:
        async def dead(delivery: Delivery, reason: str) -> None:
            try:
                job = job_base_decoder.decode(delivery.data)
            except msgspec.DecodeError:
                job = None
            await self._dead_letter(kind, delivery, job, reason)

        return dead

    async def _dead_letter(self, kind: JobKind, delivery: Delivery, job: object, reason: str) -> None:
        job_id = getattr(job, "job_id", "") or (delivery.header("Job-Id") or "")
        letter = DeadLetter(
            job_id=job_id,
            kind=kind.name,
            subject=kind.subject,
            reason=reason,
            attempts=delivery.attempt,
            payload=delivery.data,
        )
        await self.ctx.js.publish(JOBS_DEAD, json_encoder.encode(letter), headers={"Job-Id": job_id})
        user_id = getattr(job, "user_id", "")
        if user_id:
            await self.events.publish(
                [user_channel(user_id)], JobFailed(job_id=job_id, kind=kind.name, reason=reason)
            )
        metrics.jobs_processed.labels(kind.name, "dead").inc()


def create_app(settings: Settings, kinds: list[JobKind] | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def consumers(ctx: ServiceContext) -> AsyncIterator[None]:
        worker = Worker(ctx, job_kinds(settings) if kinds is None else kinds)
        await worker.start()
        ctx.state["worker"] = worker
        ctx.health.add("consumers", lambda: _consumers_alive(worker))
        for kind in worker.kinds:
            if kind.ready is not None:
                ctx.health.add(f"{kind.name}:model", kind.ready)
        try:
            yield
        finally:
            await worker.stop()

    return create_service_app(COMPONENT, settings, [], setup=consumers, bridge=False)


def _payload(on_hint: Callable[[bytes], Awaitable[None]]) -> Callable[[Msg], Awaitable[None]]:
    async def deliver(msg: Msg) -> None:
        await on_hint(msg.data)

    return deliver


async def _consumers_alive(worker: Worker) -> None:
    for consumer in worker.consumers:
        info = await worker.ctx.js.consumer_info(STREAM_JOBS, consumer.spec.durable)
        if info is None:
            raise RuntimeError(f"consumer {consumer.spec.durable} missing")
