"""What every part of the PostgreSQL store shares: the pool, retried transactions, parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from chassis import db

if TYPE_CHECKING:
    from chassis.db import Conn

T = TypeVar("T")


class Base:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _tx(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        return await db.in_transaction(self.pool, work)


class Params:
    """Positional parameters for a query built piece by piece."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"
