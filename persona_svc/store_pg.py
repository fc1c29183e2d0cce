"""The PostgreSQL/CockroachDB store (asyncpg). All of persona_svc's SQL lives here.

Counters that must be exact under concurrency (likes) change in the same transaction as
the row they count, with `INSERT … ON CONFLICT DO NOTHING` deciding whether anything
changed. Transactions that CockroachDB (serializable) may abort are retried.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import asyncpg
import msgspec
from msgspec import UnsetType

from chassis.clock import utcnow
from chassis.ids import parse_uuid
from persona_svc.pagination import ActivityKey, NewKey, ReportKey, SeqKey, TopKey, TrendKey
from persona_svc.store import (
    CHAT_WEIGHT,
    LIKE_WEIGHT,
    SCORE_SCALE,
    Busy,
    Generation,
    ListFilter,
    MessageBusy,
    Trending,
    UserCounts,
    check_regenerable,
    edited,
    finished,
    like_pattern,
    new_turn,
    regenerated,
    reply_to,
    search_text,
)
from proto.conversations import Conversation, Message, UserPersona
from proto.personas import (
    ContentSettings,
    DraftResult,
    DraftView,
    Persona,
    PersonaDraft,
    PersonaSummary,
    Report,
    ReportedPersona,
    ReportState,
)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")
Record = Mapping[str, Any] | asyncpg.Record
_json = msgspec.json.Encoder()
_draft = msgspec.json.Decoder(PersonaDraft)
_RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)

PERSONA_COLUMNS = (
    "id",
    "owner_id",
    "name",
    "tagline",
    "description",
    "personality",
    "scenario",
    "greeting",
    "alternate_greetings",
    "example_dialogues",
    "system_prompt",
    "post_history_instructions",
    "tags",
    "tags_lower",
    "search_text",
    "visibility",
    "nsfw",
    "avatar_media_id",
    "creator_notes",
    "creator",
    "character_version",
    "character_book",
    "extensions",
    "card_extras",
    "forked_from",
    "moderation",
    "like_count",
    "chat_count",
    "created_at",
    "updated_at",
)
_JSON_COLUMNS = frozenset({"character_book", "extensions", "card_extras"})
_CASTS = {"id": "::UUID", "forked_from": "::UUID", **{c: "::JSONB" for c in _JSON_COLUMNS}}
SELECT_PERSONA = ", ".join(f"p.{c}" for c in PERSONA_COLUMNS if c not in ("tags_lower", "search_text"))
# A listing reads only what a summary shows: never the long texts or the lorebook.
SELECT_SUMMARY = ", ".join(f"p.{c}" for c in PersonaSummary.__struct_fields__ if c in PERSONA_COLUMNS)
ALIVE = "p.deleted_at IS NULL AND p.moderation <> 'removed'"
LISTED = "p.visibility = 'public' AND p.moderation = 'visible' AND p.deleted_at IS NULL"
MESSAGE_COLUMNS = (
    "id, conversation_id, seq, role, content, swipes, swipe_index, status, job_id, error,"
    " created_at, updated_at"
)


class _Params:
    """Positional parameters for a query built piece by piece."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def _persona(row: Record) -> Persona:
    data = dict(row)
    for column in _JSON_COLUMNS:
        raw = data.get(column)
        data[column] = msgspec.json.decode(raw) if raw is not None else None
    for column in ("id", "forked_from"):
        if data.get(column) is not None:
            data[column] = str(data[column])
    data.pop("score", None)
    return msgspec.convert(data, Persona)


def _summary(row: Record) -> PersonaSummary:
    data = dict(row)
    for column in ("id", "forked_from"):
        if data.get(column) is not None:
            data[column] = str(data[column])
    data.pop("score", None)
    return msgspec.convert(data, PersonaSummary)


def _values(p: Persona) -> list[Any]:
    row = msgspec.structs.asdict(p)
    row["tags_lower"] = [t.lower() for t in p.tags]
    row["search_text"] = search_text(p.name, p.tagline, p.tags)
    return [_json.encode(row[c]).decode() if c in _JSON_COLUMNS else row[c] for c in PERSONA_COLUMNS]


def _message(row: Record) -> Message:
    data = dict(row)
    for column in ("id", "conversation_id", "job_id"):
        if data.get(column) is not None:
            data[column] = str(data[column])
    return msgspec.convert(data, Message)


def _conversation(row: Record) -> Conversation:
    data = dict(row)
    for column in ("id", "persona_id", "pending_job_id"):
        if data.get(column) is not None:
            data[column] = str(data[column])
    data.pop("last_seq", None)
    data["last_message"] = data.get("last_message") or ""
    name, description = data.pop("user_persona_name", None), data.pop("user_persona_description", None)
    data["user_persona"] = None if name is None else {"name": name, "description": description or ""}
    return msgspec.convert(data, Conversation)


def _report(row: Record) -> Report:
    data = dict(row)
    data["id"] = str(data["id"])
    data["persona_id"] = str(data["persona_id"])
    return msgspec.convert(data, Report)


def _generation(row: Record) -> Generation:
    data = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in dict(row).items()}
    data.pop("completed_at", None)
    return msgspec.convert(data, Generation)


class PgStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _tx(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run `work` in a transaction, again when the database aborts it as a conflict."""
        for attempt in range(8):
            try:
                async with self.pool.acquire() as conn:
                    async with conn.transaction():
                        return await work(conn)
            except _RETRYABLE:
                if attempt == 7:
                    raise
                await asyncio.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    # Personas

    def _liked(self, params: _Params, viewer_id: str | None) -> str:
        if viewer_id is None:
            return "false AS liked_by_me"
        viewer = params.add(viewer_id)
        return (
            f"EXISTS (SELECT 1 FROM likes l WHERE l.persona_id = p.id AND l.user_id = {viewer})"
            " AS liked_by_me"
        )

    async def create_persona(self, persona: Persona) -> Persona:
        await self._insert_persona(persona, "")
        return persona

    async def create_persona_if_absent(self, persona: Persona) -> bool:
        return await self._insert_persona(persona, " ON CONFLICT (id) DO NOTHING") is not None

    async def _insert_persona(self, persona: Persona, on_conflict: str) -> Any:
        params = _Params()
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
        return {str(row["id"]) for row in rows}

    async def _get(self, conn: Conn | asyncpg.Pool, persona_id: str, viewer_id: str | None) -> Persona | None:
        pid = parse_uuid(persona_id)
        if pid is None:
            return None
        params = _Params()
        liked = self._liked(params, viewer_id)
        row = await conn.fetchrow(
            f"SELECT {SELECT_PERSONA}, {liked} FROM personas p WHERE p.id = {params.add(pid)} AND {ALIVE}",
            *params.values,
        )
        return None if row is None else _persona(row)

    async def get_persona(self, persona_id: str, viewer_id: str | None = None) -> Persona | None:
        return await self._get(self.pool, persona_id, viewer_id)

    async def update_persona(self, persona_id: str, changes: dict[str, Any]) -> Persona | None:
        pid = parse_uuid(persona_id)
        if pid is None:
            return None

        async def work(conn: Conn) -> Persona | None:
            row = await conn.fetchrow(
                f"SELECT {SELECT_PERSONA}, false AS liked_by_me FROM personas p"
                f" WHERE p.id = $1 AND {ALIVE} FOR UPDATE",
                pid,
            )
            if row is None:
                return None
            updated = msgspec.structs.replace(_persona(row), **changes, updated_at=utcnow())
            params = _Params()
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
        pid = parse_uuid(persona_id)
        if pid is None:
            return False
        row = await self.pool.fetchval(
            f"UPDATE personas p SET deleted_at = $2 WHERE p.id = $1 AND {ALIVE} RETURNING p.id", pid, utcnow()
        )
        return row is not None

    def _where(self, f: ListFilter, params: _Params) -> str:
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
                "p.owner_id IN (SELECT followee_id FROM follows"
                f" WHERE follower_id = {params.add(f.followed_by)})"
            )
        if f.tag is not None:
            conds.append(f"p.tags_lower @> ARRAY[{params.add(f.tag.lower())}::TEXT]")
        if f.q is not None:
            conds.append(f"p.search_text LIKE {params.add(like_pattern(f.q))}")
        return " AND ".join(conds)

    async def list_new(
        self, f: ListFilter, limit: int, after: NewKey | None
    ) -> list[tuple[PersonaSummary, NewKey]]:
        key = None if after is None else (after.created_at, "::TIMESTAMPTZ", after.id)
        found = await self._list_by(f, limit, "p.created_at", key)
        return [(p, NewKey(p.created_at, p.id)) for p in found]

    async def list_top(
        self, f: ListFilter, limit: int, after: TopKey | None
    ) -> list[tuple[PersonaSummary, TopKey]]:
        key = None if after is None else (after.like_count, "::INT", after.id)
        found = await self._list_by(f, limit, "p.like_count", key)
        return [(p, TopKey(p.like_count, p.id)) for p in found]

    async def _list_by(
        self, f: ListFilter, limit: int, column: str, after: tuple[object, str, str] | None
    ) -> list[PersonaSummary]:
        """Keyset page ordered by `column` then id, both descending; `after` is (value, cast, id)."""
        params = _Params()
        liked = self._liked(params, f.viewer_id)
        where = self._where(f, params)
        if after is not None:
            value, cast, after_id = after
            bound = f"{params.add(value, cast)}, {params.add(parse_uuid(after_id), '::UUID')}"
            where += f" AND ({column}, p.id) < ({bound})"
        rows = await self.pool.fetch(
            f"SELECT {SELECT_SUMMARY}, {liked} FROM personas p WHERE {where}"
            f" ORDER BY {column} DESC, p.id DESC LIMIT {params.add(limit)}",
            *params.values,
        )
        return list(map(_summary, rows))

    async def list_trending(
        self, f: ListFilter, limit: int, trending: Trending, after: TrendKey | None
    ) -> list[tuple[PersonaSummary, TrendKey]]:
        params = _Params()
        as_of = params.add(trending.as_of, "::TIMESTAMPTZ")
        since = params.add(trending.since, "::TIMESTAMPTZ")
        half = params.add(trending.half_life, "::FLOAT8")
        liked = self._liked(params, f.viewer_id)
        where = self._where(f, params)
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
        return [(_summary(r), TrendKey(trending.as_of, int(r["score"]), str(r["id"]))) for r in rows]

    # Likes, follows, profiles

    async def set_like(self, persona_id: str, user_id: str, liked: bool) -> tuple[bool, int]:
        pid = parse_uuid(persona_id)

        async def work(conn: Conn) -> tuple[bool, int]:
            if liked:
                changed = await conn.fetchval(
                    "INSERT INTO likes (persona_id, user_id, created_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    pid,
                    user_id,
                    utcnow(),
                )
            else:
                changed = await conn.fetchval(
                    "DELETE FROM likes WHERE persona_id = $1 AND user_id = $2 RETURNING true", pid, user_id
                )
            if changed:
                count = await conn.fetchval(
                    "UPDATE personas SET like_count = like_count + $2 WHERE id = $1 RETURNING like_count",
                    pid,
                    1 if liked else -1,
                )
            else:
                count = await conn.fetchval("SELECT like_count FROM personas WHERE id = $1", pid)
            return bool(changed), int(count or 0)

        return await self._tx(work)

    async def set_follow(self, follower_id: str, followee_id: str, following: bool) -> tuple[bool, int]:
        async def work(conn: Conn) -> tuple[bool, int]:
            if following:
                changed = await conn.fetchval(
                    "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    follower_id,
                    followee_id,
                    utcnow(),
                )
            else:
                changed = await conn.fetchval(
                    "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2 RETURNING true",
                    follower_id,
                    followee_id,
                )
            count = await conn.fetchval("SELECT count(*) FROM follows WHERE followee_id = $1", followee_id)
            return bool(changed), int(count)

        return await self._tx(work)

    async def user_counts(
        self, user_id: str, viewer_id: str | None, include_nsfw: bool = False
    ) -> UserCounts:
        row = await self.pool.fetchrow(
            f"""
            SELECT (SELECT count(*) FROM personas p WHERE p.owner_id = $1 AND {LISTED}
                        AND (NOT p.nsfw OR $3 OR p.owner_id = $2)) AS public_personas,
                   (SELECT count(*) FROM follows WHERE followee_id = $1) AS followers,
                   (SELECT count(*) FROM follows WHERE follower_id = $1) AS following,
                   EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $1)
                       AS followed_by_me
            """,
            user_id,
            viewer_id,
            include_nsfw,
        )
        assert row is not None
        return UserCounts(
            public_personas=int(row["public_personas"]),
            followers=int(row["followers"]),
            following=int(row["following"]),
            followed_by_me=bool(row["followed_by_me"]),
        )

    # Reports

    async def add_report(self, report: Report, threshold: int) -> tuple[bool, ReportState]:
        pid = parse_uuid(report.persona_id)

        async def work(conn: Conn) -> tuple[bool, ReportState]:
            # Reports on one persona take turns, so the count below sees every earlier one.
            moderation = await conn.fetchval("SELECT moderation FROM personas WHERE id = $1 FOR UPDATE", pid)
            created = await conn.fetchval(
                "INSERT INTO reports (id, persona_id, reporter_id, reason, created_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (persona_id, reporter_id)"
                " DO UPDATE SET id = EXCLUDED.id, reason = EXCLUDED.reason,"
                " created_at = EXCLUDED.created_at, reviewed_at = NULL WHERE reports.reviewed_at IS NOT NULL"
                " RETURNING true",
                parse_uuid(report.id),
                pid,
                report.reporter_id,
                report.reason,
                report.created_at,
            )
            if created:
                await conn.execute(
                    "UPDATE personas SET last_reported_at = $2 WHERE id = $1", pid, report.created_at
                )
            count = int(
                await conn.fetchval(
                    "SELECT count(*) FROM reports WHERE persona_id = $1 AND reviewed_at IS NULL", pid
                )
            )
            if count >= threshold and moderation == "visible":
                await conn.execute("UPDATE personas SET moderation = 'hidden' WHERE id = $1", pid)
                moderation = "hidden"
            return bool(created), ReportState(
                persona_id=report.persona_id, open_reports=count, moderation=moderation
            )

        return await self._tx(work)

    async def moderation_queue(
        self, hidden_only: bool, limit: int, after: ReportKey | None
    ) -> list[tuple[ReportedPersona, ReportKey]]:
        params = _Params()
        conds = [
            ALIVE,
            "p.last_reported_at IS NOT NULL",
            "EXISTS (SELECT 1 FROM reports r WHERE r.persona_id = p.id AND r.reviewed_at IS NULL)",
        ]
        if hidden_only:
            conds.append("p.moderation = 'hidden'")
        if after is not None:
            conds.append(
                f"(p.last_reported_at, p.id) < ({params.add(after.last_reported_at, '::TIMESTAMPTZ')},"
                f" {params.add(parse_uuid(after.id), '::UUID')})"
            )
        rows = await self.pool.fetch(
            f"SELECT {SELECT_PERSONA}, false AS liked_by_me, p.last_reported_at FROM personas p"
            f" WHERE {' AND '.join(conds)} ORDER BY p.last_reported_at DESC, p.id DESC"
            f" LIMIT {params.add(limit)}",
            *params.values,
        )
        if not rows:
            return []
        reports = await self.pool.fetch(
            "SELECT id, persona_id, reporter_id, reason, created_at, reviewed_at FROM reports"
            " WHERE persona_id = ANY($1::UUID[]) AND reviewed_at IS NULL ORDER BY created_at DESC, id DESC",
            [r["id"] for r in rows],
        )
        by_persona: dict[str, list[Report]] = {}
        for r in reports:
            report = _report(r)
            by_persona.setdefault(report.persona_id, []).append(report)
        out = []
        for row in rows:
            data = dict(row)
            at: datetime = data.pop("last_reported_at")
            persona = _persona(data)
            found = by_persona.get(persona.id, [])
            out.append(
                (
                    ReportedPersona(persona=persona, open_reports=len(found), reports=found),
                    ReportKey(at, persona.id),
                )
            )
        return out

    async def review(self, persona_id: str, action: Literal["restore", "remove"]) -> Persona | None:
        pid = parse_uuid(persona_id)
        if pid is None:
            return None

        async def work(conn: Conn) -> Persona | None:
            now = utcnow()
            found = await conn.fetchval(
                "UPDATE personas SET moderation = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL"
                " RETURNING id",
                pid,
                "visible" if action == "restore" else "removed",
                now,
            )
            if found is None:
                return None
            await conn.execute(
                "UPDATE reports SET reviewed_at = $2 WHERE persona_id = $1 AND reviewed_at IS NULL", pid, now
            )
            row = await conn.fetchrow(
                f"SELECT {SELECT_PERSONA}, false AS liked_by_me FROM personas p WHERE p.id = $1", pid
            )
            return None if row is None else _persona(row)

        return await self._tx(work)

    # Drafts

    async def create_draft(self, job_id: str, user_id: str, idea: str) -> DraftView:
        now = utcnow()
        await self.pool.execute(
            "INSERT INTO drafts (job_id, user_id, idea, created_at) VALUES ($1, $2, $3, $4)",
            parse_uuid(job_id),
            user_id,
            idea,
            now,
        )
        return DraftView(job_id=job_id, status="pending", idea=idea, created_at=now)

    async def finish_draft(self, result: DraftResult) -> bool:
        jid = parse_uuid(result.job_id)
        if jid is None:
            return False
        draft = _json.encode(result.draft).decode() if result.draft is not None else None
        found = await self.pool.fetchval(
            "UPDATE drafts SET status = $2, draft = $3::JSONB, error = $4, completed_at = $5"
            " WHERE job_id = $1 AND status = 'pending' RETURNING true",
            jid,
            result.status,
            draft,
            result.error,
            utcnow(),
        )
        return bool(found)

    async def get_draft(self, job_id: str) -> tuple[str, DraftView] | None:
        jid = parse_uuid(job_id)
        if jid is None:
            return None
        row = await self.pool.fetchrow(
            "SELECT user_id, idea, status, draft, error, created_at, completed_at"
            " FROM drafts WHERE job_id = $1",
            jid,
        )
        if row is None:
            return None
        draft = _draft.decode(row["draft"]) if row["draft"] is not None else None
        view = DraftView(
            job_id=job_id,
            status=row["status"],
            idea=row["idea"],
            draft=draft,
            error=row["error"],
            created_at=row["created_at"],
            completed_at=row["completed_at"],
        )
        return str(row["user_id"]), view

    # Conversations

    async def create_conversation(self, conversation: Conversation, greeting: Message | None) -> None:
        c = conversation

        async def work(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO conversations (id, user_id, persona_id, persona_name, persona_avatar_media_id,"
                " last_seq, created_at, last_activity_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                parse_uuid(c.id),
                c.user_id,
                parse_uuid(c.persona_id),
                c.persona_name,
                c.persona_avatar_media_id,
                greeting.seq if greeting is not None else 0,
                c.created_at,
                c.last_activity_at,
            )
            if greeting is not None:
                await self._insert_message(conn, greeting)
            await conn.execute(
                "UPDATE personas SET chat_count = chat_count + 1 WHERE id = $1", parse_uuid(c.persona_id)
            )

        await self._tx(work)

    async def _insert_message(self, conn: Conn, m: Message) -> None:
        await conn.execute(
            f"INSERT INTO messages ({MESSAGE_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            parse_uuid(m.id),
            parse_uuid(m.conversation_id),
            m.seq,
            m.role,
            m.content,
            m.swipes,
            m.swipe_index,
            m.status,
            parse_uuid(m.job_id) if m.job_id else None,
            m.error,
            m.created_at,
            m.updated_at,
        )

    async def _update_message(self, conn: Conn, m: Message) -> None:
        await conn.execute(
            "UPDATE messages SET content = $2, swipes = $3, swipe_index = $4, status = $5, job_id = $6,"
            " error = $7, updated_at = $8 WHERE id = $1",
            parse_uuid(m.id),
            m.content,
            m.swipes,
            m.swipe_index,
            m.status,
            parse_uuid(m.job_id) if m.job_id else None,
            m.error,
            m.updated_at,
        )

    _CONVERSATION = """
        SELECT c.id, c.user_id, c.persona_id,
               COALESCE(p.name, c.persona_name) AS persona_name,
               CASE WHEN p.id IS NULL THEN c.persona_avatar_media_id ELSE p.avatar_media_id END
                   AS persona_avatar_media_id,
               (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,
               (SELECT substr(m.content, 1, 200) FROM messages m WHERE m.conversation_id = c.id
                 ORDER BY m.seq DESC LIMIT 1) AS last_message,
               c.pending_job_id, c.created_at, c.last_activity_at,
               c.title, c.user_persona_name, c.user_persona_description
          FROM conversations c LEFT JOIN personas p ON p.id = c.persona_id
    """

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        cid = parse_uuid(conversation_id)
        if cid is None:
            return None
        row = await self.pool.fetchrow(f"{self._CONVERSATION} WHERE c.id = $1", cid)
        return None if row is None else _conversation(row)

    async def list_conversations(
        self, user_id: str, limit: int, after: ActivityKey | None, persona_id: str | None = None
    ) -> list[tuple[Conversation, ActivityKey]]:
        params = _Params()
        where = f"c.user_id = {params.add(user_id)}"
        if persona_id is not None:
            where += f" AND c.persona_id = {params.add(parse_uuid(persona_id), '::UUID')}"
        if after is not None:
            where += (
                f" AND (c.last_activity_at, c.id) < ({params.add(after.last_activity_at, '::TIMESTAMPTZ')},"
                f" {params.add(parse_uuid(after.id), '::UUID')})"
            )
        rows = await self.pool.fetch(
            f"{self._CONVERSATION} WHERE {where} ORDER BY c.last_activity_at DESC, c.id DESC"
            f" LIMIT {params.add(limit)}",
            *params.values,
        )
        return [(c, ActivityKey(c.last_activity_at, c.id)) for c in map(_conversation, rows)]

    async def update_conversation(
        self,
        conversation_id: str,
        title: str | None | UnsetType,
        user_persona: UserPersona | None | UnsetType,
    ) -> bool:
        cid = parse_uuid(conversation_id)
        if cid is None:
            return False
        params = _Params()
        where = f"id = {params.add(cid)}"
        sets = []
        if not isinstance(title, UnsetType):
            sets.append(f"title = {params.add(title, '::TEXT')}")
        if not isinstance(user_persona, UnsetType):
            name = None if user_persona is None else user_persona.name
            description = None if user_persona is None else user_persona.description
            sets.append(f"user_persona_name = {params.add(name, '::TEXT')}")
            sets.append(f"user_persona_description = {params.add(description, '::TEXT')}")
        if not sets:
            return bool(
                await self.pool.fetchval(f"SELECT true FROM conversations WHERE {where}", *params.values)
            )
        found = await self.pool.fetchval(
            f"UPDATE conversations SET {', '.join(sets)} WHERE {where} RETURNING true", *params.values
        )
        return bool(found)

    async def delete_conversation(self, conversation_id: str) -> bool:
        cid = parse_uuid(conversation_id)
        if cid is None:
            return False

        async def work(conn: Conn) -> bool:
            found = await conn.fetchval("DELETE FROM conversations WHERE id = $1 RETURNING true", cid)
            await conn.execute("DELETE FROM messages WHERE conversation_id = $1", cid)
            await conn.execute("DELETE FROM generations WHERE conversation_id = $1", cid)
            return bool(found)

        return await self._tx(work)

    async def list_messages(
        self, conversation_id: str, limit: int, after: SeqKey | None
    ) -> list[tuple[Message, SeqKey]]:
        params = _Params()
        where = f"conversation_id = {params.add(parse_uuid(conversation_id))}"
        if after is not None:
            where += f" AND seq < {params.add(after.seq)}"
        rows = await self.pool.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where}"
            f" ORDER BY seq DESC LIMIT {params.add(limit)}",
            *params.values,
        )
        return [(m, SeqKey(m.seq)) for m in map(_message, rows)]

    async def history(self, conversation_id: str, limit: int, before_seq: int | None = None) -> list[Message]:
        rows = await self.pool.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages"
            " WHERE conversation_id = $1 AND ($2::INT IS NULL OR seq < $2)"
            " ORDER BY seq DESC LIMIT $3",
            parse_uuid(conversation_id),
            before_seq,
            limit,
        )
        return [_message(r) for r in reversed(rows)]

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None:
        mid = parse_uuid(message_id)
        if mid is None:
            return None
        row = await self.pool.fetchrow(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND conversation_id = $2",
            mid,
            parse_uuid(conversation_id),
        )
        return None if row is None else _message(row)

    async def _insert_generation(self, conn: Conn, g: Generation) -> None:
        await conn.execute(
            "INSERT INTO generations"
            " (job_id, conversation_id, message_id, user_id, swipe_index, status, created_at)"
            " VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
            parse_uuid(g.job_id),
            parse_uuid(g.conversation_id),
            parse_uuid(g.message_id),
            g.user_id,
            g.swipe_index,
            g.created_at,
        )

    async def start_reply(
        self,
        conversation_id: str,
        generation: Generation,
        user_message_id: str | None,
        user_content: str | None,
    ) -> tuple[Message | None, Message]:
        with_user = user_message_id is not None and user_content is not None

        async def work(conn: Conn) -> tuple[Message | None, Message]:
            now = utcnow()
            seq = await conn.fetchval(
                "UPDATE conversations"
                " SET pending_job_id = $2, last_seq = last_seq + $3, last_activity_at = $4"
                " WHERE id = $1 AND pending_job_id IS NULL RETURNING last_seq",
                parse_uuid(conversation_id),
                parse_uuid(generation.job_id),
                2 if with_user else 1,
                now,
            )
            if seq is None:
                raise Busy(conversation_id)
            user, reply = new_turn(conversation_id, generation, user_message_id, user_content, seq, now)
            if user is not None:
                await self._insert_message(conn, user)
            await self._insert_message(conn, reply)
            await self._insert_generation(
                conn, msgspec.structs.replace(generation, swipe_index=0, created_at=now)
            )
            return user, reply

        return await self._tx(work)

    async def start_regenerate(self, conversation_id: str, generation: Generation) -> Message:
        cid = parse_uuid(conversation_id)

        async def work(conn: Conn) -> Message:
            pending = await conn.fetchrow(
                "SELECT pending_job_id FROM conversations WHERE id = $1 FOR UPDATE", cid
            )
            if pending is None or pending["pending_job_id"] is not None:
                raise Busy(conversation_id)
            row = await conn.fetchrow(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1"
                " ORDER BY seq DESC LIMIT 1",
                cid,
            )
            last = check_regenerable(None if row is None else _message(row), generation)
            now = utcnow()
            reply = regenerated(last, generation.job_id, now)
            await self._update_message(conn, reply)
            await self._insert_generation(
                conn, msgspec.structs.replace(generation, swipe_index=reply.swipe_index, created_at=now)
            )
            await conn.execute(
                "UPDATE conversations SET pending_job_id = $2, last_activity_at = $3 WHERE id = $1",
                cid,
                parse_uuid(generation.job_id),
                now,
            )
            return reply

        return await self._tx(work)

    async def get_generation(self, job_id: str) -> Generation | None:
        jid = parse_uuid(job_id)
        if jid is None:
            return None
        row = await self.pool.fetchrow(
            "SELECT job_id, conversation_id, message_id, user_id, swipe_index, status, created_at"
            " FROM generations WHERE job_id = $1",
            jid,
        )
        return None if row is None else _generation(row)

    async def finish_generation(
        self, job_id: str, status: Literal["done", "cancelled", "failed"], text: str, error: str | None
    ) -> Message | None:
        jid = parse_uuid(job_id)
        if jid is None:
            return None

        async def work(conn: Conn) -> Message | None:
            now = utcnow()
            row = await conn.fetchrow(
                "UPDATE generations SET status = $2, completed_at = $3"
                " WHERE job_id = $1 AND status = 'pending'"
                " RETURNING job_id, conversation_id, message_id, user_id, swipe_index, status, created_at",
                jid,
                status,
                now,
            )
            if row is None:
                return None
            g = _generation(row)
            await conn.execute(
                "UPDATE conversations SET pending_job_id = NULL, last_activity_at = $3"
                " WHERE id = $1 AND pending_job_id = $2",
                parse_uuid(g.conversation_id),
                jid,
                now,
            )
            found = await conn.fetchrow(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 FOR UPDATE", parse_uuid(g.message_id)
            )
            if found is None:
                return None
            updated = finished(_message(found), g, status, text, error, now)
            if updated is not None:
                await self._update_message(conn, updated)
            return updated

        return await self._tx(work)

    async def edit_message(
        self, conversation_id: str, message_id: str, content: str | None, swipe_index: int | None
    ) -> Message | None:
        mid = parse_uuid(message_id)
        if mid is None:
            return None

        async def work(conn: Conn) -> Message | None:
            row = await conn.fetchrow(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND conversation_id = $2 FOR UPDATE",
                mid,
                parse_uuid(conversation_id),
            )
            if row is None:
                return None
            m = edited(_message(row), content, swipe_index, utcnow())
            await self._update_message(conn, m)
            return m

        return await self._tx(work)

    async def delete_message(self, conversation_id: str, message_id: str, with_reply: bool = False) -> bool:
        mid, cid = parse_uuid(message_id), parse_uuid(conversation_id)
        if mid is None:
            return False

        async def work(conn: Conn) -> bool:
            row = await conn.fetchrow(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND conversation_id = $2 FOR UPDATE",
                mid,
                cid,
            )
            if row is None:
                return False
            m = _message(row)
            reply = None
            if with_reply:
                following = await conn.fetchrow(
                    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2"
                    " ORDER BY seq LIMIT 1 FOR UPDATE",
                    cid,
                    m.seq,
                )
                reply = reply_to(m, None if following is None else _message(following))
            if m.status == "pending" or (reply is not None and reply.status == "pending"):
                raise MessageBusy(message_id)
            doomed = [mid] if reply is None else [mid, parse_uuid(reply.id)]
            await conn.execute("DELETE FROM messages WHERE id = ANY($1::UUID[])", doomed)
            return True

        return await self._tx(work)

    # User personas

    async def get_user_persona(self, user_id: str) -> UserPersona | None:
        row = await self.pool.fetchrow(
            "SELECT name, description FROM user_personas WHERE user_id = $1", user_id
        )
        return None if row is None else UserPersona(name=row["name"], description=row["description"])

    async def set_user_persona(self, user_id: str, persona: UserPersona | None) -> None:
        if persona is None:
            await self.pool.execute("DELETE FROM user_personas WHERE user_id = $1", user_id)
            return
        await self.pool.execute(
            "INSERT INTO user_personas (user_id, name, description, updated_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, description = excluded.description,"
            " updated_at = excluded.updated_at",
            user_id,
            persona.name,
            persona.description,
            utcnow(),
        )

    # Content settings

    async def get_content_settings(self, user_id: str) -> ContentSettings:
        row = await self.pool.fetchrow(
            "SELECT show_nsfw, adult_confirmed_at FROM user_settings WHERE user_id = $1", user_id
        )
        if row is None:
            return ContentSettings()
        return ContentSettings(show_nsfw=row["show_nsfw"], adult_confirmed_at=row["adult_confirmed_at"])

    async def set_content_settings(self, user_id: str, settings: ContentSettings) -> None:
        await self.pool.execute(
            "INSERT INTO user_settings (user_id, show_nsfw, adult_confirmed_at, updated_at)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (user_id) DO UPDATE SET show_nsfw = excluded.show_nsfw,"
            " adult_confirmed_at = excluded.adult_confirmed_at, updated_at = excluded.updated_at",
            user_id,
            settings.show_nsfw,
            settings.adult_confirmed_at,
            utcnow(),
        )
