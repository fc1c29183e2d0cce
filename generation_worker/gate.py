"""The text model's slots: at most `slots` generations at once per worker, the rest in arrival order.

A model server decodes its parallel slots in one batch; a request beyond them would wait inside
the server, unseen. Waiting here instead lets each waiting reply tell its client where it stands
(`ai_chat_queued`), and a cancelled reply leaves the queue at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Report = Callable[[int], Awaitable[None]]


@dataclass(eq=False)
class _Waiter:
    turn: asyncio.Future[None]
    moved: asyncio.Event = field(default_factory=asyncio.Event)


async def _silent(position: int) -> None:
    return None


class ModelGate:
    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self.active = 0
        self.waiting: deque[_Waiter] = deque()

    def take(self) -> bool:
        """Take a slot only if one is free now with nobody waiting (never queues); True when
        taken, and then `release()` gives it back."""
        if self.active < self.slots and not self.waiting:
            self.active += 1
            return True
        return False

    @contextlib.asynccontextmanager
    async def slot(self, report: Report = _silent) -> AsyncIterator[None]:
        """Hold one slot; while waiting, `report(position)` each time the position changes (1 = next)."""
        await self._acquire(report)
        try:
            yield
        finally:
            self.release()

    async def _acquire(self, report: Report) -> None:
        if self.take():
            return
        waiter = _Waiter(asyncio.get_running_loop().create_future())
        self.waiting.append(waiter)
        try:
            told = 0
            while not waiter.turn.done():
                position = self.waiting.index(waiter) + 1
                if position != told:
                    told = position
                    await report(position)
                    continue  # the queue may have moved while the report was sent
                waiter.moved.clear()
                moved: asyncio.Future[object] = asyncio.ensure_future(waiter.moved.wait())
                turn: asyncio.Future[object] = waiter.turn  # type: ignore[assignment]
                try:
                    await asyncio.wait({turn, moved}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    moved.cancel()
        except BaseException:
            if waiter.turn.done():
                self.release()  # the slot was handed over just as this waiter gave up: pass it on
            else:
                self.waiting.remove(waiter)
                self._moved()
            raise

    def release(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.turn.done():
                waiter.turn.set_result(None)  # the slot passes straight on: `active` is unchanged
                self._moved()
                return
        self.active -= 1

    def _moved(self) -> None:
        for waiter in self.waiting:
            waiter.moved.set()
