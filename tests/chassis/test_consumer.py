"""The shared JetStream worker pattern against a real nats-server."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS

from chassis.consumer import ConsumerSpec, Delivery, PullConsumer, Retry
from tests.chassis.work_queue import STREAM, SUBJECT, pending, publish
from tests.support.poll import eventually


def spec(handler: object, **kw: object) -> ConsumerSpec:
    base: dict[str, object] = {"stream": STREAM, "subject": SUBJECT, "durable": "tester", "handler": handler}
    base.update(kw)
    return ConsumerSpec(**base)  # type: ignore[arg-type]


async def test_success_is_acked_and_removed(nc: NATS) -> None:
    seen: list[bytes] = []

    async def handler(d: Delivery) -> None:
        seen.append(d.data)

    consumer = PullConsumer(nc.jetstream(), spec(handler))
    await consumer.start()
    await publish(nc, b"a", b"b", b"c")
    await eventually(lambda: len(seen) == 3)
    await consumer.stop()
    assert sorted(seen) == [b"a", b"b", b"c"]
    assert await pending(nc) == 0


async def test_transient_failures_are_retried_with_growing_delay(nc: NATS) -> None:
    attempts: list[tuple[int, float]] = []
    loop = asyncio.get_running_loop()

    async def handler(d: Delivery) -> None:
        attempts.append((d.attempt, loop.time()))
        if d.attempt < 3:
            raise Retry("upstream 503")

    consumer = PullConsumer(nc.jetstream(), spec(handler, backoff_base=0.2))
    await consumer.start()
    await publish(nc, b"x")
    await eventually(lambda: len(attempts) == 3)
    await asyncio.sleep(0.3)
    await consumer.stop()
    assert [a for a, _ in attempts] == [1, 2, 3]
    gaps = [attempts[i + 1][1] - attempts[i][1] for i in range(2)]
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39  # 0.2 s, then 0.4 s
    assert await pending(nc) == 0


async def test_last_failed_delivery_is_dead_lettered_once(nc: NATS) -> None:
    attempts: list[int] = []
    dead: list[tuple[bytes, str]] = []

    async def handler(d: Delivery) -> None:
        attempts.append(d.attempt)
        raise ValueError("model said no")

    async def on_dead(d: Delivery, reason: str) -> None:
        dead.append((d.data, reason))

    consumer = PullConsumer(nc.jetstream(), spec(handler, max_deliver=3, backoff_base=0.05, on_dead=on_dead))
    await consumer.start()
    await publish(nc, b"doomed")
    await eventually(lambda: len(dead) == 1)
    await asyncio.sleep(0.5)
    await consumer.stop()
    assert attempts == [1, 2, 3]
    assert dead == [(b"doomed", "ValueError: model said no")]
    assert await pending(nc) == 0


async def test_concurrency_limit_is_respected(nc: NATS) -> None:
    running = 0
    peak = 0
    done = 0

    async def handler(d: Delivery) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.1)
        running -= 1
        done += 1

    consumer = PullConsumer(nc.jetstream(), spec(handler, concurrency=3))
    await consumer.start()
    await publish(nc, *[str(i).encode() for i in range(10)])
    await eventually(lambda: done == 10)
    await consumer.stop()
    assert peak == 3


async def test_heartbeats_keep_a_long_job_from_being_redelivered(nc: NATS) -> None:
    deliveries: list[int] = []

    async def handler(d: Delivery) -> None:
        deliveries.append(d.attempt)
        await asyncio.sleep(2.5)

    a = PullConsumer(nc.jetstream(), spec(handler, ack_wait=1.0))
    b = PullConsumer(nc.jetstream(), spec(handler, ack_wait=1.0))
    await a.start()
    await b.start()
    await publish(nc, b"long")
    await eventually(lambda: deliveries != [])
    await asyncio.sleep(3.0)
    await a.stop()
    await b.stop()
    assert deliveries == [1]
    assert await pending(nc) == 0


async def test_stop_hands_a_running_job_back_at_once(nc: NATS) -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(d: Delivery) -> None:
        started.set()
        await asyncio.sleep(60)

    async def quick(d: Delivery) -> None:
        finished.append(d.data.decode())

    first = PullConsumer(nc.jetstream(), spec(slow, ack_wait=30.0), shutdown_grace=0.2)
    await first.start()
    await publish(nc, b"job")
    await asyncio.wait_for(started.wait(), 5)
    await first.stop()
    second = PullConsumer(nc.jetstream(), spec(quick, ack_wait=30.0))
    await second.start()
    # Redelivered long before ack_wait (30 s): the stopping consumer nak'ed it.
    await eventually(lambda: finished == ["job"], timeout=5)
    await second.stop()
