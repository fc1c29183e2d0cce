"""The text model's slots: replies beyond them wait in arrival order and hear their position."""

from __future__ import annotations

import asyncio

from generation_worker.gate import ModelGate


async def test_replies_beyond_the_slots_wait_in_order_and_hear_their_position() -> None:
    gate = ModelGate(2)
    heard: dict[str, list[int]] = {}
    order: list[str] = []
    release = {name: asyncio.Event() for name in "abcde"}

    async def reply(name: str) -> None:
        async def report(position: int) -> None:
            heard.setdefault(name, []).append(position)

        async with gate.slot(report):
            order.append(name)
            await release[name].wait()

    tasks = {}
    for name in "abcde":
        tasks[name] = asyncio.create_task(reply(name))
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert order == ["a", "b"] and heard == {"c": [1], "d": [2], "e": [3]}
    release["a"].set()
    await asyncio.sleep(0.01)
    assert order == ["a", "b", "c"] and heard["d"] == [2, 1] and heard["e"] == [3, 2]
    for name in "bcde":
        release[name].set()
    await asyncio.gather(*tasks.values())
    assert order == list("abcde") and gate.active == 0 and not gate.waiting


async def test_a_cancelled_waiter_leaves_the_queue_and_those_behind_move_up() -> None:
    gate = ModelGate(1)
    heard: list[int] = []
    hold = asyncio.Event()

    async def first() -> None:
        async with gate.slot():
            await hold.wait()

    async def waiting(report: bool) -> None:
        async def tell(position: int) -> None:
            if report:
                heard.append(position)

        async with gate.slot(tell):
            pass

    running = asyncio.create_task(first())
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(waiting(False))
    await asyncio.sleep(0)
    behind = asyncio.create_task(waiting(True))
    await asyncio.sleep(0.01)
    assert heard == [2]
    cancelled.cancel()
    await asyncio.sleep(0.01)
    assert heard == [2, 1] and len(gate.waiting) == 1
    hold.set()
    await asyncio.gather(running, behind)
    assert gate.active == 0 and not gate.waiting
