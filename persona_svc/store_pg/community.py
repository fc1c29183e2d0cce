"""The community in PostgreSQL: likes, follows, profile counts, reports and moderation, and what
each account lets the community show it.

Counters that must be exact under concurrency (likes) change in the same transaction as the
row they count, with `INSERT … ON CONFLICT DO NOTHING` deciding whether anything changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from chassis.clock import utcnow
from chassis.db import convert, fetch_all, fetch_one
from chassis.ids import parse_uuid
from persona_svc.pagination import ReportKey
from persona_svc.store import UserCounts
from persona_svc.store_pg.base import Base, Params
from persona_svc.store_pg.personas import ALIVE, LISTED, SELECT_PERSONA
from proto.personas import ContentSettings, Persona, Report, ReportedPersona, ReportState

if TYPE_CHECKING:
    from chassis.db import Conn

REPORT_COLUMNS = "id, persona_id, reporter_id, reason, created_at, reviewed_at"


async def _toggle(
    conn: Conn, table: str, key: tuple[str, str], values: tuple[object, object], on: bool
) -> bool:
    """Add (stamped now) or remove the row of `table` whose `key` columns hold `values`; whether
    that changed anything."""
    if on:
        query = (
            f"INSERT INTO {table} ({key[0]}, {key[1]}, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true"
        )
        return bool(await conn.fetchval(query, *values, utcnow()))
    query = f"DELETE FROM {table} WHERE {key[0]} = $1 AND {key[1]} = $2 RETURNING true"
    return bool(await conn.fetchval(query, *values))


class Community(Base):
    # Likes, follows, profiles

    async def set_like(self, persona_id: str, user_id: str, liked: bool) -> tuple[bool, int]:
        pid = parse_uuid(persona_id)

        async def work(conn: Conn) -> tuple[bool, int]:
            changed = await _toggle(conn, "likes", ("persona_id", "user_id"), (pid, user_id), liked)
            if changed:
                count = await conn.fetchval(
                    "UPDATE personas SET like_count = like_count + $2 WHERE id = $1 RETURNING like_count",
                    pid,
                    1 if liked else -1,
                )
            else:
                count = await conn.fetchval("SELECT like_count FROM personas WHERE id = $1", pid)
            return changed, int(count or 0)

        return await self._tx(work)

    async def set_follow(self, follower_id: str, followee_id: str, following: bool) -> tuple[bool, int]:
        async def work(conn: Conn) -> tuple[bool, int]:
            pair = (follower_id, followee_id)
            changed = await _toggle(conn, "follows", ("follower_id", "followee_id"), pair, following)
            count = await conn.fetchval("SELECT count(*) FROM follows WHERE followee_id = $1", followee_id)
            return changed, int(count)

        return await self._tx(work)

    async def user_counts(
        self, user_id: str, viewer_id: str | None, include_nsfw: bool = False
    ) -> UserCounts:
        counts = await fetch_one(
            self.pool,
            UserCounts,
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
        assert counts is not None
        return counts

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
                report.id,
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
        params = Params()
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
        reports = await fetch_all(
            self.pool,
            Report,
            f"SELECT {REPORT_COLUMNS} FROM reports WHERE persona_id = ANY($1::UUID[]) AND reviewed_at IS NULL"
            " ORDER BY created_at DESC, id DESC",
            [r["id"] for r in rows],
        )
        by_persona: dict[str, list[Report]] = {}
        for report in reports:
            by_persona.setdefault(report.persona_id, []).append(report)
        out = []
        for row in rows:
            found = by_persona.get(row["id"], [])
            reported = ReportedPersona(persona=convert(row, Persona), open_reports=len(found), reports=found)
            out.append((reported, ReportKey(row["last_reported_at"], row["id"])))
        return out

    async def review(self, persona_id: str, action: Literal["restore", "remove"]) -> Persona | None:
        pid = parse_uuid(persona_id)
        if pid is None:
            return None

        async def work(conn: Conn) -> Persona | None:
            now = utcnow()
            persona = await fetch_one(
                conn,
                Persona,
                "UPDATE personas p SET moderation = $2, updated_at = $3"
                f" WHERE p.id = $1 AND p.deleted_at IS NULL RETURNING {SELECT_PERSONA}, false AS liked_by_me",
                pid,
                "visible" if action == "restore" else "removed",
                now,
            )
            if persona is not None:
                await conn.execute(
                    "UPDATE reports SET reviewed_at = $2 WHERE persona_id = $1 AND reviewed_at IS NULL",
                    pid,
                    now,
                )
            return persona

        return await self._tx(work)

    # Content settings

    async def get_content_settings(self, user_id: str) -> ContentSettings:
        found = await fetch_one(
            self.pool,
            ContentSettings,
            "SELECT show_nsfw, adult_confirmed_at FROM user_settings WHERE user_id = $1",
            user_id,
        )
        return ContentSettings() if found is None else found

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
