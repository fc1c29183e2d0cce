"""The one wait of the tests: poll a condition until it holds, or fail naming it."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float = 30.0,
    what: str = "condition",
    every: float = 0.05,
) -> float:
    """Until `check()` (sync or async) is true; the seconds it took. Fails with an
    AssertionError after `timeout` (a hang, not a slow run: the machine is shared), also when
    one `check()` hangs; a TimeoutError of `check()`'s own propagates as it is."""
    started = time.monotonic()
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            while True:
                result = check()
                if await result if inspect.isawaitable(result) else result:
                    return time.monotonic() - started
                await asyncio.sleep(every)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise AssertionError(f"{what}: not within {timeout:g} s") from None
