"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg
import msgspec

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


class Item(msgspec.Struct, kw_only=True):
    id: str
    owner_id: str | None = None
    tags: dict[str, list[int]] = {}
    created_at: datetime


class Tag(msgspec.Struct):
    name: str


async def test_rows_come_back_as_structs_with_text_ids_and_decoded_json(postgres_url: str) -> None:
    url = await fresh_database(postgres_url)
    pool = await db.create_pool(url, min_size=1, max_size=2)
    try:
        await pool.execute(
            "CREATE TABLE items (id UUID PRIMARY KEY, owner_id UUID, tags JSONB NOT NULL,"
            " extra JSONB, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        first, second = str(uuid.uuid4()), uuid.uuid4()
        # Ids go in as text or uuid.UUID; JSONB takes Python values and Structs, never a pre-encoded string.
        await pool.execute(
            "INSERT INTO items (id, owner_id, tags, extra) VALUES ($1, $2, $3, $4), ($2, NULL, $5, NULL)",
            first,
            second,
            {"a": [1, 2]},
            [Tag("x")],
            {},
        )
        item = await db.fetch_one(pool, Item, "SELECT * FROM items WHERE id = $1", first)
        assert item is not None
        assert (item.id, item.owner_id, item.tags) == (first, str(second), {"a": [1, 2]})
        assert await pool.fetchval("SELECT extra FROM items WHERE id = $1", first) == [{"name": "x"}]
        assert await pool.fetchval("SELECT extra -> 0 ->> 'name' FROM items WHERE id = $1", first) == "x"
        found = await db.fetch_all(
            pool, Item, "SELECT * FROM items WHERE id = ANY($1::UUID[]) ORDER BY id", [first, second]
        )
        assert sorted(i.id for i in found) == sorted([first, str(second)])
        assert await db.fetch_one(pool, Item, "SELECT * FROM items WHERE id = $1", str(uuid.uuid4())) is None
        assert await db.fetch_by_id(pool, Item, "SELECT * FROM items WHERE id = $1", first) == item
        assert await db.fetch_by_id(pool, Item, "SELECT * FROM items WHERE id = $1", "not-an-id") is None
        drop = "DELETE FROM items WHERE id = $1 RETURNING id"
        assert await db.changed_by_id(pool, drop, "not-an-id") is False
        assert await db.changed_by_id(pool, drop, first) is True
        assert await db.changed_by_id(pool, drop, first) is False
        assert await pool.fetchval("SELECT '{\"k\": true}'::JSON") == {"k": True}
    finally:
        await pool.close()


def test_unavailable_errors_are_recognised() -> None:
    assert db.is_unavailable(ConnectionRefusedError())
    assert db.is_unavailable(asyncpg.exceptions.CannotConnectNowError())
    assert not db.is_unavailable(ValueError())
