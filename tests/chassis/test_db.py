"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from chassis import db
from tests.support.pg import fresh_database


async def test_migrations_apply_once_even_when_replicas_race(postgres_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_things.sql").write_text(
        "CREATE TABLE things (id UUID PRIMARY KEY, name TEXT NOT NULL);"
    )
    (tmp_path / "0002_more.sql").write_text("ALTER TABLE things ADD COLUMN size INT NOT NULL DEFAULT 0;")
    url = await fresh_database(postgres_url)
    pools = [await db.create_pool(url, min_size=1, max_size=2) for _ in range(3)]
    try:
        results = await asyncio.gather(*(db.migrate(p, "svc", tmp_path) for p in pools))
        assert sorted(v for r in results for v in r) == [1, 2]
        rows = await pools[0].fetch("SELECT version FROM schema_migrations WHERE service = 'svc' ORDER BY 1")
        assert [r["version"] for r in rows] == [1, 2]
        assert await db.migrate(pools[0], "svc", tmp_path) == []
        (tmp_path / "0003_index.sql").write_text("CREATE INDEX things_name ON things (name);")
        assert await db.migrate(pools[1], "svc", tmp_path) == [3]
    finally:
        for p in pools:
            await p.close()


async def test_failed_migration_is_not_recorded(postgres_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_bad.sql").write_text("CREATE TABLE ok_table (id INT); SELECT * FROM no_such_table;")
    url = await fresh_database(postgres_url)
    pool = await db.create_pool(url)
    try:
        try:
            await db.migrate(pool, "svc", tmp_path)
        except asyncpg.exceptions.UndefinedTableError:
            pass
        else:
            raise AssertionError("the broken migration ran")
        assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == 0
        assert await pool.fetchval("SELECT to_regclass('ok_table')") is None
    finally:
        await pool.close()


def test_unavailable_errors_are_recognised() -> None:
    assert db.is_unavailable(ConnectionRefusedError())
    assert db.is_unavailable(asyncpg.exceptions.CannotConnectNowError())
    assert not db.is_unavailable(ValueError())
