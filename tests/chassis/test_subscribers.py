"""Consumers declared once (`chassis.subscribers`) against a real nats-server: the handler gets
the decoded message, an undecodable one is dropped without blocking the rest, and an unavailable
database or dependency means "retry" rather than "give up"."""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.js import api

from chassis.consumer import Delivery
from chassis.settings import Settings
from chassis.subscribers import Subscriber, consuming, current_delivery
from tests.chassis.work_queue import STREAM, SUBJECT, pending, publish
from tests.support.natsd import NatsServer
from tests.support.poll import eventually


class Item(msgspec.Struct):
    name: str


class Unreachable(Exception):
    pass


@pytest.fixture
def settings(nats_server: NatsServer) -> Settings:
    return Settings.from_env({}, nats_url=nats_server.url, job_backoff_base=0.05)


def declare(handler: object, **kw: object) -> Subscriber[Item]:
    base: dict[str, object] = {
        "stream": STREAM,
        "subject": SUBJECT,
        "durable": "subs",
        "decoder": msgspec.json.Decoder(Item),
        "handler": handler,
    }
    base.update(kw)
    return Subscriber(**base)  # type: ignore[arg-type]


async def test_the_handler_gets_decoded_messages_and_an_undecodable_one_is_dropped(
    nc: NATS, settings: Settings
) -> None:
    seen: list[str] = []

    async def handler(item: Item) -> None:
        seen.append(item.name)

    async with consuming(nc.jetstream(), settings, [declare(handler, concurrency=1)]):
        await publish(nc, b'{"name": "a"}', b"not json", b'{"wrong": 1}', b'{"name": "b"}')
        await eventually(lambda: len(seen) == 2)
    assert seen == ["a", "b"]
    # The two bad ones were acked too: nothing is left to block the messages behind them.
    assert await pending(nc) == 0


async def test_an_undecodable_message_can_be_handed_on_instead(nc: NATS, settings: Settings) -> None:
    bad: list[tuple[bytes, int]] = []

    async def handler(item: Item) -> None:
        raise AssertionError("never decoded")

    async def on_undecodable(delivery: Delivery, error: str) -> None:
        bad.append((delivery.data, delivery.attempt))

    async with consuming(nc.jetstream(), settings, [declare(handler, on_undecodable=on_undecodable)]):
        await publish(nc, b"[1, 2]")
        await eventually(lambda: len(bad) == 1)
    assert bad == [(b"[1, 2]", 1)]
    assert await pending(nc) == 0


async def test_an_unavailable_database_is_waited_for_not_given_up_on(nc: NATS, settings: Settings) -> None:
    attempts: list[int] = []

    async def handler(item: Item) -> None:
        # The handler reads its delivery (attempt) from the context, as a worker's job does.
        attempts.append(current_delivery.get().attempt)
        if len(attempts) < 4:
            raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    # max_deliver stays at its default (never give up): more failures than a job's 5 tries would allow.
    async with consuming(nc.jetstream(), settings, [declare(handler)]):
        await publish(nc, b'{"name": "kept"}')
        await eventually(lambda: len(attempts) == 4)
    assert attempts == [1, 2, 3, 4]
    assert await pending(nc) == 0


async def test_a_declared_unavailable_dependency_is_retried_after_its_delay(
    nc: NATS, settings: Settings
) -> None:
    times: list[float] = []
    loop = asyncio.get_running_loop()

    async def handler(item: Item) -> None:
        times.append(loop.time())
        if len(times) == 1:
            raise Unreachable("object store away")

    sub = declare(handler, unavailable=(Unreachable,), retry_delay=0.5)
    async with consuming(nc.jetstream(), settings, [sub]):
        await publish(nc, b'{"name": "x"}')
        await eventually(lambda: len(times) == 2)
    assert times[1] - times[0] >= 0.45  # its own delay, not the 0.05 s backoff
    assert await pending(nc) == 0


async def test_other_failures_are_given_up_on_after_max_deliver(nc: NATS, settings: Settings) -> None:
    attempts: list[int] = []
    dead: list[str] = []

    async def handler(item: Item) -> None:
        attempts.append(current_delivery.get().attempt)
        raise ValueError("model said no")

    async def on_dead(delivery: Delivery, reason: str) -> None:
        dead.append(reason)

    async with consuming(nc.jetstream(), settings, [declare(handler, max_deliver=2, on_dead=on_dead)]):
        await publish(nc, b'{"name": "doomed"}')
        await eventually(lambda: len(dead) == 1)
    assert attempts == [1, 2]
    assert dead == ["ValueError: model said no"]


async def test_consuming_starts_every_declaration_and_stops_them_together(
    nc: NATS, settings: Settings
) -> None:
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name="TESTSUBS2", subjects=["testsubs2.items"]))
    got: list[str] = []

    async def handler(item: Item) -> None:
        got.append(item.name)

    second = declare(handler, stream="TESTSUBS2", subject="testsubs2.items", durable="subs2")
    async with consuming(js, settings, [declare(handler), second]) as consumers:
        assert [c.spec.durable for c in consumers] == ["subs", "subs2"]
        await publish(nc, b'{"name": "one"}')
        await js.publish("testsubs2.items", b'{"name": "two"}')
        await eventually(lambda: len(got) == 2)
    assert sorted(got) == ["one", "two"]
    # Stopped: a message published now waits for the next process.
    await publish(nc, b'{"name": "later"}')
    await asyncio.sleep(0.3)
    assert sorted(got) == ["one", "two"]
    assert await pending(nc) == 1
