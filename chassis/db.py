"""asyncpg pool and the migration runner (SQL valid on PostgreSQL and CockroachDB).

Every connection of a pool reads and writes `jsonb` as Python values (through msgspec) and
UUIDs as `str`, so a row converts straight into a Struct (`convert`) and an id of ours is
passed to a query as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import msgspec
import structlog

from chassis.ids import parse_uuid

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = PoolConnectionProxy[asyncpg.Record]
    Executor = asyncpg.Pool | Conn

log = structlog.get_logger("chassis.db")

T = TypeVar("T")
_json = msgspec.json.Encoder()
# Conflicts CockroachDB (serializable) and PostgreSQL may abort a transaction with: run it again.
_RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)

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


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, _UNAVAILABLE)


def _encode_json(value: Any) -> str:
    return _json.encode(value).decode()


async def _codecs(conn: asyncpg.Connection[Any]) -> None:
    # Text format: the same on PostgreSQL and CockroachDB, no jsonb version byte to add.
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_json, decoder=msgspec.json.decode, format="text"
    )
    with contextlib.suppress(ValueError):  # CockroachDB has no `json` type (its JSON is JSONB).
        await conn.set_type_codec(
            "json", schema="pg_catalog", encoder=_encode_json, decoder=msgspec.json.decode, format="text"
        )
    await conn.set_type_codec("uuid", schema="pg_catalog", encoder=str, decoder=str, format="text")


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    # Short timeouts: a stopped database answers 503 quickly instead of hanging requests.
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, timeout=5.0, command_timeout=15.0, init=_codecs
    )
    assert pool is not None
    return pool


def convert(row: asyncpg.Record | Mapping[str, Any], into: type[T]) -> T:
    """`row` as `into` (a Struct or dataclass), field by column name; other columns are ignored."""
    return msgspec.convert(dict(row), into)


async def fetch_one(conn: Executor, into: type[T], query: str, *args: Any) -> T | None:
    """The query's first row as `into`; None when it returns none."""
    row = await conn.fetchrow(query, *args)
    return None if row is None else convert(row, into)


async def fetch_by_id(conn: Executor, into: type[T], query: str, id: str, *args: Any) -> T | None:
    """`fetch_one` with `id`, text from a caller, as $1: None when it is not a UUID (nothing has it)."""
    uid = parse_uuid(id)
    return None if uid is None else await fetch_one(conn, into, query, uid, *args)


async def changed_by_id(conn: Executor, query: str, id: str, *args: Any) -> bool:
    """Whether `query` (an UPDATE or DELETE … RETURNING) with `id` as $1 changed a row; False,
    without running it, when `id` (text from a caller) is not a UUID."""
    uid = parse_uuid(id)
    return uid is not None and await conn.fetchrow(query, uid, *args) is not None


async def fetch_all(conn: Executor, into: type[T], query: str, *args: Any) -> list[T]:
    return [convert(row, into) for row in await conn.fetch(query, *args)]


async def in_transaction(pool: asyncpg.Pool, work: Callable[[Conn], Awaitable[T]], attempts: int = 8) -> T:
    """Run `work(connection)` in a transaction, again when the database aborts it as a conflict."""
    for attempt in range(attempts):
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await work(conn)
        except _RETRYABLE:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")


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
