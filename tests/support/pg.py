"""PostgreSQL for tests: `TEST_DATABASE_URL` when set, else an embedded server (pgserver)."""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg

from chassis import db

S = TypeVar("S")


@contextmanager
def postgres_server() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="persona-pg-") as folder:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.simplefilter("ignore")
            import pgserver

            server: Any = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


async def fresh_database(admin_url: str) -> str:
    """Create an empty database for one test module and return its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(admin_url, name)


def _with_database(url: str, name: str) -> str:
    # postgresql://user:pw@host:port/db?query  or  postgresql://user:@/db?host=/socket
    head, sep, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{query}"


async def migrated_database(admin_url: str, service: str, migrations: Path) -> str:
    """A fresh database with `service`'s migrations applied (one per test module, for store suites)."""
    url = await fresh_database(admin_url)
    pool = await db.create_pool(url, min_size=1, max_size=2)
    try:
        await db.migrate(pool, service, migrations)
    finally:
        await pool.close()
    return url


@asynccontextmanager
async def emptied_pool(url: str, tables: Iterable[str], max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """A pool on `url` with `tables` emptied first, closed afterwards."""
    pool = await db.create_pool(url, min_size=1, max_size=max_size)
    try:
        await pool.execute(f"TRUNCATE {', '.join(tables)}")
        yield pool
    finally:
        await pool.close()


STORE_KINDS = ["memory", "postgres"]


@dataclass(frozen=True)
class Stores(Generic[S]):
    """How a store contract suite makes its store of each kind (STORE_KINDS)."""

    memory: Callable[[], S]
    postgres: Callable[[asyncpg.Pool], S]
    tables: Iterable[str]  # emptied before each test on PostgreSQL

    @asynccontextmanager
    async def open(self, kind: str, url: str) -> AsyncIterator[S]:
        if kind == "memory":
            yield self.memory()
            return
        async with emptied_pool(url, self.tables, max_size=12) as pool:
            yield self.postgres(pool)
