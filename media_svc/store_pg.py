"""PostgreSQL / CockroachDB store (asyncpg). All of media_svc's SQL lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from chassis.db import fetch_all, fetch_one
from media_svc.store import Applied, Cursor, JobRecord, MediaRecord
from proto.media import MediaResult, Visibility

MEDIA_COLUMNS = (
    "id, owner_id, persona_id, kind, source, status, visibility, content_type, size, width, height,"
    " duration, variants, provider, label, prompt, error, job_id, created_at, updated_at"
)
SELECT_MEDIA = f"SELECT {MEDIA_COLUMNS} FROM media"
JOB_COLUMNS = "id, media_id, owner_id, kind, state, error, created_at, finished_at"
# Attempts at taking a free generation slot when a concurrent request took the same one.
SLOT_ATTEMPTS = 3


class PgMediaStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @staticmethod
    async def _insert(conn: PoolConnectionProxy[asyncpg.Record], media: MediaRecord, job: JobRecord) -> None:
        await conn.execute(
            f"INSERT INTO media ({MEDIA_COLUMNS}) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb,"
            " $14, $15, $16, $17, $18, $19, $20)",
            media.id,
            media.owner_id,
            media.persona_id,
            media.kind,
            media.source,
            media.status,
            media.visibility,
            media.content_type,
            media.size,
            media.width,
            media.height,
            media.duration,
            media.variants,
            media.provider,
            media.label,
            media.prompt,
            media.error,
            media.job_id,
            media.created_at,
            media.updated_at,
        )
        await conn.execute(
            f"INSERT INTO media_jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            job.id,
            job.media_id,
            job.owner_id,
            job.kind,
            job.state,
            job.error,
            job.created_at,
            job.finished_at,
        )

    async def create(self, media: MediaRecord, job: JobRecord) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await self._insert(conn, media, job)

    async def create_generation(self, media: MediaRecord, job: JobRecord, limit: int) -> bool:
        for _ in range(SLOT_ATTEMPTS):
            async with self.pool.acquire() as conn, conn.transaction():
                slot = await conn.fetchval(
                    "INSERT INTO media_generation_slots (owner_id, slot, job_id)"
                    " SELECT $1, s, $2 FROM generate_series(0, $3 - 1) AS s"
                    " WHERE s NOT IN (SELECT slot FROM media_generation_slots WHERE owner_id = $1)"
                    " ORDER BY s LIMIT 1"
                    " ON CONFLICT DO NOTHING RETURNING slot",
                    media.owner_id,
                    job.id,
                    limit,
                )
                if slot is not None:
                    await self._insert(conn, media, job)
                    return True
                held = await conn.fetchval(
                    "SELECT count(*) FROM media_generation_slots WHERE owner_id = $1 AND slot < $2",
                    media.owner_id,
                    limit,
                )
                if held >= limit:
                    return False
            # A concurrent request took the slot we chose: look again.
        return False

    async def get(self, media_id: str) -> MediaRecord | None:
        return await fetch_one(self.pool, MediaRecord, f"{SELECT_MEDIA} WHERE id = $1", media_id)

    async def get_many(self, media_ids: list[str]) -> list[MediaRecord]:
        if not media_ids:
            return []
        return await fetch_all(
            self.pool,
            MediaRecord,
            f"{SELECT_MEDIA} WHERE id = ANY($1::uuid[])",
            list(dict.fromkeys(media_ids)),
        )

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await fetch_one(
            self.pool, JobRecord, f"SELECT {JOB_COLUMNS} FROM media_jobs WHERE id = $1", job_id
        )

    async def page(
        self, viewer_id: str, persona_id: str | None, after: Cursor | None, limit: int
    ) -> list[MediaRecord]:
        args: list[Any] = [viewer_id]
        if persona_id is None:
            where = "owner_id = $1"
        else:
            args.append(persona_id)
            where = "persona_id = $2 AND (owner_id = $1 OR visibility = 'public')"
        if after is not None:
            args += [after[0], after[1]]
            n = len(args)
            where += f" AND (created_at, id) < (${n - 1}, ${n}::uuid)"
        args.append(limit)
        return await fetch_all(
            self.pool,
            MediaRecord,
            f"{SELECT_MEDIA} WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )

    async def persona_images(self, owner_id: str, persona_id: str, limit: int) -> list[MediaRecord]:
        return await fetch_all(
            self.pool,
            MediaRecord,
            f"{SELECT_MEDIA} WHERE owner_id = $1 AND persona_id = $2"
            " AND kind = 'image' AND status = 'ready' ORDER BY created_at DESC, id DESC LIMIT $3",
            owner_id,
            persona_id,
            limit,
        )

    async def apply_result(self, result: MediaResult, now: datetime) -> Applied:
        state = "done" if result.status == "ready" else "failed"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM media_generation_slots WHERE job_id = $1", result.job_id)
            finished = await conn.fetchval(
                "UPDATE media_jobs SET state = $2, error = $3, finished_at = $4"
                " WHERE id = $1 AND state IN ('queued', 'running') RETURNING media_id",
                result.job_id,
                state,
                result.error,
                now,
            )
            if finished is None:
                exists = await conn.fetchval("SELECT 1 FROM media_jobs WHERE id = $1", result.job_id)
                return Applied.DUPLICATE if exists else Applied.ORPHAN
            if result.status == "failed":
                updated = await conn.fetchval(
                    "UPDATE media SET status = 'failed', error = $2, updated_at = $3"
                    " WHERE id = $1 RETURNING 1",
                    result.media_id,
                    result.error,
                    now,
                )
            else:
                updated = await conn.fetchval(
                    "UPDATE media SET status = 'ready', error = NULL, updated_at = $2,"
                    " content_type = COALESCE(NULLIF($3, ''), content_type),"
                    " size = CASE WHEN $4::bigint > 0 THEN $4::bigint ELSE size END,"
                    " width = $5, height = $6, duration = $7, variants = $8::jsonb,"
                    " provider = COALESCE($9, provider), label = COALESCE($10, label)"
                    " WHERE id = $1 RETURNING 1",
                    result.media_id,
                    now,
                    result.content_type,
                    result.size,
                    result.width,
                    result.height,
                    result.duration,
                    result.variants,
                    result.provider,
                    result.label,
                )
            return Applied.APPLIED if updated else Applied.ORPHAN

    async def set_visibility(
        self, media_id: str, visibility: Visibility, now: datetime
    ) -> MediaRecord | None:
        return await fetch_one(
            self.pool,
            MediaRecord,
            f"UPDATE media SET visibility = $2, updated_at = $3 WHERE id = $1 RETURNING {MEDIA_COLUMNS}",
            media_id,
            visibility,
            now,
        )

    async def delete(self, media_id: str) -> MediaRecord | None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM media_jobs WHERE media_id = $1", media_id)
            return await fetch_one(
                conn, MediaRecord, f"DELETE FROM media WHERE id = $1 RETURNING {MEDIA_COLUMNS}", media_id
            )
