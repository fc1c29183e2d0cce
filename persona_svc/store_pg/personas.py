"""Personas in PostgreSQL: the rows, their listings (new, top, trending) and persona drafts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from chassis.clock import utcnow
from chassis.db import changed_by_id, convert, fetch_all, fetch_one
from chassis.ids import parse_uuid
from persona_svc.pagination import NewKey, TopKey, TrendKey
from persona_svc.store import (
    CHAT_WEIGHT,
    LIKE_WEIGHT,
    SCORE_SCALE,
    ListFilter,
    Trending,
    like_pattern,
    search_text,
)
from persona_svc.store_pg.base import Base, Params
from proto.personas import DraftResult, DraftView, Persona, PersonaSummary

if TYPE_CHECKING:
    from chassis.db import Conn

K = TypeVar("K", NewKey, TopKey)

# Persona fields resolved at each answer (or per viewer), never stored.
NOT_STORED = frozenset({"fork_origin", "liked_by_me", "owner_name", "avatar_url", "avatar_urls"})
STORED = tuple(f for f in Persona.__struct_fields__ if f not in NOT_STORED)
# What a persona's row holds: its stored fields, and the lower-cased copies the filters read.
PERSONA_COLUMNS = (*STORED, "tags_lower", "search_text")
_CASTS = {
    "id": "::UUID",
    "forked_from": "::UUID",
    **{c: "::JSONB" for c in ("character_book", "extensions", "card_extras")},
}
SELECT_PERSONA = ", ".join(f"p.{c}" for c in STORED)
# A listing reads only what a summary shows: never the long texts or the lorebook.
SELECT_SUMMARY = ", ".join(f"p.{c}" for c in PersonaSummary.__struct_fields__ if c in PERSONA_COLUMNS)
ALIVE = "p.deleted_at IS NULL AND p.moderation <> 'removed'"
LISTED = "p.visibility = 'public' AND p.moderation = 'visible' AND p.deleted_at IS NULL"
DRAFT_COLUMNS = "job_id, status, idea, draft, error, created_at, completed_at"


def _values(p: Persona) -> list[Any]:
    row = msgspec.structs.asdict(p)
    row["tags_lower"] = [t.lower() for t in p.tags]
    row["search_text"] = search_text(p.name, p.tagline, p.tags)
    return [row[c] for c in PERSONA_COLUMNS]


def _liked(params: Params, viewer_id: str | None) -> str:
    if viewer_id is None:
        return "false AS liked_by_me"
    viewer = params.add(viewer_id)
    return f"EXISTS (SELECT 1 FROM likes l WHERE l.persona_id = p.id AND l.user_id = {viewer}) AS liked_by_me"


def _where(f: ListFilter, params: Params) -> str:
    conds = [ALIVE]
    if f.own:
        conds.append(f"p.owner_id = {params.add(f.creator_id)}")
    else:
        conds.append(LISTED)
        if not f.include_nsfw and f.viewer_id is None:
            conds.append("NOT p.nsfw")
        elif not f.include_nsfw:
            conds.append(f"(NOT p.nsfw OR p.owner_id = {params.add(f.viewer_id)})")
        if f.creator_id is not None:
            conds.append(f"p.owner_id = {params.add(f.creator_id)}")
    if f.followed_by is not None:
        conds.append(
            f"p.owner_id IN (SELECT followee_id FROM follows WHERE follower_id = {params.add(f.followed_by)})"
        )
    if f.tag is not None:
        conds.append(f"p.tags_lower @> ARRAY[{params.add(f.tag.lower())}::TEXT]")
    if f.q is not None:
        conds.append(f"p.search_text LIKE {params.add(like_pattern(f.q))}")
    return " AND ".join(conds)


class Personas(Base):
    async def create_persona(self, persona: Persona) -> Persona:
        await self._insert_persona(persona, "")
        return persona

    async def create_persona_if_absent(self, persona: Persona) -> bool:
        return await self._insert_persona(persona, " ON CONFLICT (id) DO NOTHING") is not None

    async def _insert_persona(self, persona: Persona, on_conflict: str) -> Any:
        params = Params()
        placeholders = [
            params.add(v, _CASTS.get(c, "")) for c, v in zip(PERSONA_COLUMNS, _values(persona), strict=True)
        ]
        return await self.pool.fetchval(
            f"INSERT INTO personas ({', '.join(PERSONA_COLUMNS)}) VALUES ({', '.join(placeholders)})"
            f"{on_conflict} RETURNING id",
            *params.values,
        )

    async def existing_persona_ids(self, persona_ids: Sequence[str]) -> set[str]:
        ids = [pid for pid in map(parse_uuid, persona_ids) if pid is not None]
        rows = await self.pool.fetch("SELECT id FROM personas WHERE id = ANY($1::uuid[])", ids)
        return {row["id"] for row in rows}

    async def get_persona(self, persona_id: str, viewer_id: str | None = None) -> Persona | None:
        pid = parse_uuid(persona_id)
        if pid is None:
            return None
        params = Params()
        liked = _liked(params, viewer_id)
        return await fetch_one(
            self.pool,
            Persona,
            f"SELECT {SELECT_PERSONA}, {liked} FROM personas p WHERE p.id = {params.add(pid)} AND {ALIVE}",
            *params.values,
        )

    async def update_persona(self, persona_id: str, changes: dict[str, Any]) -> Persona | None:
        pid = parse_uuid(persona_id)
        if pid is None:
            return None

        async def work(conn: Conn) -> Persona | None:
            found = await fetch_one(
                conn,
                Persona,
                f"SELECT {SELECT_PERSONA}, false AS liked_by_me FROM personas p"
                f" WHERE p.id = $1 AND {ALIVE} FOR UPDATE",
                pid,
            )
            if found is None:
                return None
            updated = msgspec.structs.replace(found, **changes, updated_at=utcnow())
            params = Params()
            sets = [
                f"{c} = {params.add(v, _CASTS.get(c, ''))}"
                for c, v in zip(PERSONA_COLUMNS, _values(updated), strict=True)
                if c != "id"
            ]
            await conn.execute(
                f"UPDATE personas SET {', '.join(sets)} WHERE id = {params.add(pid)}", *params.values
            )
            return updated

        return await self._tx(work)

    async def delete_persona(self, persona_id: str) -> bool:
        return await changed_by_id(
            self.pool,
            f"UPDATE personas p SET deleted_at = $2 WHERE p.id = $1 AND {ALIVE} RETURNING p.id",
            persona_id,
            utcnow(),
        )

    async def list_new(
        self, f: ListFilter, limit: int, after: NewKey | None
    ) -> list[tuple[PersonaSummary, NewKey]]:
        return await self._list_by(f, limit, NewKey, "::TIMESTAMPTZ", after)

    async def list_top(
        self, f: ListFilter, limit: int, after: TopKey | None
    ) -> list[tuple[PersonaSummary, TopKey]]:
        return await self._list_by(f, limit, TopKey, "::INT", after)

    async def _list_by(
        self, f: ListFilter, limit: int, key: type[K], cast: str, after: K | None
    ) -> list[tuple[PersonaSummary, K]]:
        """Keyset page ordered by the key's first field (a column, of type `cast`) then id, both
        descending."""
        column = key.__struct_fields__[0]
        params = Params()
        liked = _liked(params, f.viewer_id)
        where = _where(f, params)
        if after is not None:
            bound = (
                f"{params.add(getattr(after, column), cast)}, {params.add(parse_uuid(after.id), '::UUID')}"
            )
            where += f" AND (p.{column}, p.id) < ({bound})"
        found = await fetch_all(
            self.pool,
            PersonaSummary,
            f"SELECT {SELECT_SUMMARY}, {liked} FROM personas p WHERE {where}"
            f" ORDER BY p.{column} DESC, p.id DESC LIMIT {params.add(limit)}",
            *params.values,
        )
        return [(p, key(getattr(p, column), p.id)) for p in found]

    async def list_trending(
        self, f: ListFilter, limit: int, trending: Trending, after: TrendKey | None
    ) -> list[tuple[PersonaSummary, TrendKey]]:
        params = Params()
        as_of = params.add(trending.as_of, "::TIMESTAMPTZ")
        since = params.add(trending.since, "::TIMESTAMPTZ")
        half = params.add(trending.half_life, "::FLOAT8")
        liked = _liked(params, f.viewer_id)
        where = _where(f, params)
        page = ""
        if after is not None:
            page = (
                f"WHERE (x.score, x.id) < ({params.add(after.score, '::INT8')},"
                f" {params.add(parse_uuid(after.id), '::UUID')})"
            )
        # Each event's points are computed on their own and summed as integers, so the
        # scores (and the page boundaries) are exactly the same on every page.
        rows = await self.pool.fetch(
            f"""
            WITH events AS (
                SELECT persona_id, {LIKE_WEIGHT}::FLOAT8 AS weight, created_at FROM likes
                 WHERE created_at > {since} AND created_at <= {as_of}
                UNION ALL
                SELECT persona_id, {CHAT_WEIGHT}::FLOAT8, created_at FROM conversations
                 WHERE created_at > {since} AND created_at <= {as_of}
            ), scores AS (
                SELECT persona_id, sum(floor({SCORE_SCALE}::FLOAT8 * weight * power(0.5::FLOAT8,
                       extract(epoch FROM ({as_of} - created_at))::FLOAT8 / {half}))::INT8)::INT8 AS score
                  FROM events GROUP BY persona_id
            )
            SELECT * FROM (
                SELECT {SELECT_SUMMARY}, {liked}, COALESCE(s.score, 0)::INT8 AS score
                  FROM personas p LEFT JOIN scores s ON s.persona_id = p.id
                 WHERE {where} AND p.created_at <= {as_of}
            ) x {page}
            ORDER BY x.score DESC, x.id DESC LIMIT {params.add(limit)}
            """,
            *params.values,
        )
        return [(convert(r, PersonaSummary), TrendKey(trending.as_of, r["score"], r["id"])) for r in rows]

    # Drafts

    async def create_draft(self, job_id: str, user_id: str, idea: str) -> DraftView:
        now = utcnow()
        await self.pool.execute(
            "INSERT INTO drafts (job_id, user_id, idea, created_at) VALUES ($1, $2, $3, $4)",
            job_id,
            user_id,
            idea,
            now,
        )
        return DraftView(job_id=job_id, status="pending", idea=idea, created_at=now)

    async def finish_draft(self, result: DraftResult) -> bool:
        return await changed_by_id(
            self.pool,
            "UPDATE drafts SET status = $2, draft = $3::JSONB, error = $4, completed_at = $5"
            " WHERE job_id = $1 AND status = 'pending' RETURNING true",
            result.job_id,
            result.status,
            result.draft,
            result.error,
            utcnow(),
        )

    async def get_draft(self, job_id: str) -> tuple[str, DraftView] | None:
        jid = parse_uuid(job_id)
        if jid is None:
            return None
        row = await self.pool.fetchrow(f"SELECT user_id, {DRAFT_COLUMNS} FROM drafts WHERE job_id = $1", jid)
        return None if row is None else (row["user_id"], convert(row, DraftView))
