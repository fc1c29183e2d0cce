"""asyncpg pool and the migration runner (SQL valid on PostgreSQL and CockroachDB)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import structlog

log = structlog.get_logger("chassis.db")

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

# Errors that mean "the database is not reachable right now", answered with 503.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
)


# Conflicts CockroachDB (serializable) and PostgreSQL may abort a transaction with: run it again.
_RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)
T = TypeVar("T")


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, _UNAVAILABLE)


async def in_transaction(pool: asyncpg.Pool, work: Callable[[Any], Awaitable[T]], attempts: int = 8) -> T:
    """Run `work(connection)` in a transaction, again when the database aborts it as a conflict."""
    for attempt in range(attempts):
        try:
            async with pool.acquire() as conn:
                async with conn.transaction():
                    return await work(conn)
        except _RETRYABLE:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    # Short timeouts: a stopped database answers 503 quickly instead of hanging requests.
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, timeout=5.0, command_timeout=15.0
    )
    assert pool is not None
    return pool


def migration_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION.match(path.name)
        if not m:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append((int(m.group(1)), path))
    return found


async def migrate(pool: asyncpg.Pool, service: str, directory: Path) -> list[int]:
    """Apply each migration not yet recorded, in its own transaction.

    No advisory locks (CockroachDB has none): the version row is inserted first, so a
    replica racing another blocks on the primary key and then skips, without
    running the migration twice.
    """
    async with pool.acquire() as conn:
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " service TEXT NOT NULL, version INT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
                " PRIMARY KEY (service, version))"
            )
        except (asyncpg.exceptions.UniqueViolationError, asyncpg.exceptions.DuplicateTableError):
            pass  # IF NOT EXISTS is not atomic on PostgreSQL: another replica created it just now.
    applied: list[int] = []
    for version, path in migration_files(directory):
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    inserted = await conn.fetchval(
                        "INSERT INTO schema_migrations (service, version) VALUES ($1, $2)"
                        " ON CONFLICT DO NOTHING RETURNING version",
                        service,
                        version,
                    )
                    if inserted is None:
                        continue
                    await conn.execute(path.read_text())
            except asyncpg.exceptions.UniqueViolationError:
                continue
        log.info("migration applied", service=service, version=version, file=path.name)
        applied.append(version)
    return applied
