"""The PostgreSQL/CockroachDB room store (asyncpg): all of the rooms' SQL.

A room's row is updated first in every transaction that assigns a message seq or starts a
reply (`UPDATE rooms … RETURNING`), so concurrent posts and results on one room serialize on
it; a conflict CockroachDB aborts is retried by `chassis.db.in_transaction`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import asyncpg
import msgspec

from chassis.db import convert, fetch_all, fetch_one, in_transaction
from persona_svc.store_rooms import (
    Finished,
    InviteRefused,
    InviteRow,
    Joined,
    ReplyEnd,
    RoomRow,
    invite_problem,
)
from proto.rooms import ReportedRoomMessage, RoomMember, RoomMessage, RoomReply, TurnPolicy

ROOM = (
    "id, title, owner_id, turn_policy, persona_ids, persona_names, persona_avatars, member_count, "
    "turn_index, created_at, last_activity_at"
)
MEMBER = "room_id, user_id, display_name, role, joined_at"
MESSAGE = "id, room_id, seq, kind, author_id, author_name, content, asked_by, job_id, status, created_at"
REPLY = "job_id, room_id, message_id, persona_id, asked_by, status, position, error, created_at"
OPEN = "status IN ('queued', 'running')"


class PgRoomStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_room(self, room: RoomRow, owner: RoomMember) -> None:
        async def work(conn: Any) -> None:
            await conn.execute(
                f"INSERT INTO rooms ({ROOM}) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 0, $8, $9)",
                room.id,
                room.title,
                room.owner_id,
                room.turn_policy,
                room.persona_ids,
                room.persona_names,
                room.persona_avatars,
                room.created_at,
                room.last_activity_at,
            )
            await self._add_member(conn, room.id, owner)

        await in_transaction(self.pool, work)

    @staticmethod
    async def _add_member(conn: Any, room_id: str, m: RoomMember) -> None:
        await conn.execute(
            f"INSERT INTO room_members ({MEMBER}) VALUES ($1, $2, $3, $4, $5)",
            room_id,
            m.user_id,
            m.display_name,
            m.role,
            m.joined_at,
        )

    async def get_room(self, room_id: str) -> RoomRow | None:
        return await fetch_one(self.pool, RoomRow, f"SELECT {ROOM} FROM rooms WHERE id = $1", room_id)

    async def list_rooms(self, user_id: str, limit: int) -> list[RoomRow]:
        return await fetch_all(
            self.pool,
            RoomRow,
            f"SELECT {', '.join('r.' + c.strip() for c in ROOM.split(','))} FROM rooms r "
            "JOIN room_members m ON m.room_id = r.id WHERE m.user_id = $1 "
            "ORDER BY r.last_activity_at DESC, r.id DESC LIMIT $2",
            user_id,
            limit,
        )

    async def update_room(
        self, room_id: str, title: str | None, turn_policy: TurnPolicy | None
    ) -> RoomRow | None:
        return await fetch_one(
            self.pool,
            RoomRow,
            "UPDATE rooms SET title = COALESCE($2, title), turn_policy = COALESCE($3, turn_policy) "
            f"WHERE id = $1 RETURNING {ROOM}",
            room_id,
            title,
            turn_policy,
        )

    async def delete_room(self, room_id: str) -> bool:
        # Members, invites, removals, messages, their reports and replies go with it (ON DELETE
        # CASCADE, on PostgreSQL and CockroachDB alike).
        return await self.pool.fetchval("DELETE FROM rooms WHERE id = $1 RETURNING id", room_id) is not None

    async def members(self, room_id: str) -> list[RoomMember]:
        return await fetch_all(
            self.pool,
            RoomMember,
            f"SELECT {MEMBER} FROM room_members WHERE room_id = $1 ORDER BY joined_at, user_id",
            room_id,
        )

    async def member(self, room_id: str, user_id: str) -> RoomMember | None:
        return await fetch_one(
            self.pool,
            RoomMember,
            f"SELECT {MEMBER} FROM room_members WHERE room_id = $1 AND user_id = $2",
            room_id,
            user_id,
        )

    async def add_invite(self, invite: InviteRow) -> None:
        await self.pool.execute(
            "INSERT INTO room_invites (code_hash, room_id, created_by, max_uses, uses, expires_at, "
            "created_at) VALUES ($1, $2, $3, $4, 0, $5, $6)",
            invite.code_hash,
            invite.room_id,
            invite.created_by,
            invite.max_uses,
            invite.expires_at,
            invite.created_at,
        )

    async def join(self, code_hash: str, member: RoomMember, now: datetime) -> Joined:
        async def work(conn: Any) -> Joined:
            # Locks the invite: two joins racing for its last use cannot both get it.
            row = await conn.fetchrow(
                "UPDATE room_invites SET uses = uses WHERE code_hash = $1 "
                "RETURNING code_hash, room_id, created_by, max_uses, uses, expires_at, created_at",
                code_hash,
            )
            invite = None if row is None else convert(row, InviteRow)
            if invite is not None:
                known = await conn.fetchrow(
                    f"SELECT {MEMBER} FROM room_members WHERE room_id = $1 AND user_id = $2",
                    invite.room_id,
                    member.user_id,
                )
                if known is not None:
                    return Joined(room_id=invite.room_id, member=convert(known, RoomMember), new=False)
            removed_at = (
                await conn.fetchval(
                    "SELECT removed_at FROM room_removals WHERE room_id = $1 AND user_id = $2",
                    invite.room_id,
                    member.user_id,
                )
                if invite is not None
                else None
            )
            problem = invite_problem(invite, removed_at, now)
            if problem is not None or invite is None:
                raise InviteRefused(problem or "unknown")
            await conn.execute("UPDATE room_invites SET uses = uses + 1 WHERE code_hash = $1", code_hash)
            await conn.execute(
                "UPDATE rooms SET member_count = member_count + 1 WHERE id = $1", invite.room_id
            )
            joined = msgspec.structs.replace(member, role="member", joined_at=now)
            await self._add_member(conn, invite.room_id, joined)
            return Joined(room_id=invite.room_id, member=joined, new=True)

        return await in_transaction(self.pool, work)

    async def remove_member(self, room_id: str, user_id: str, removed: bool, now: datetime) -> bool:
        async def work(conn: Any) -> bool:
            gone = await conn.fetchval(
                "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2 RETURNING user_id",
                room_id,
                user_id,
            )
            if gone is None:
                return False
            await conn.execute("UPDATE rooms SET member_count = member_count - 1 WHERE id = $1", room_id)
            if removed:
                await conn.execute(
                    "INSERT INTO room_removals (room_id, user_id, removed_at) VALUES ($1, $2, $3) "
                    "ON CONFLICT (room_id, user_id) DO UPDATE SET removed_at = excluded.removed_at",
                    room_id,
                    user_id,
                    now,
                )
            return True

        return await in_transaction(self.pool, work)

    @staticmethod
    async def _append(conn: Any, m: RoomMessage, turns: int = 0) -> RoomMessage:
        seq = await conn.fetchval(
            "UPDATE rooms SET last_seq = last_seq + 1, turn_index = turn_index + $3, "
            "last_activity_at = GREATEST(last_activity_at, $2) WHERE id = $1 RETURNING last_seq",
            m.room_id,
            m.created_at,
            turns,
        )
        stored = msgspec.structs.replace(m, seq=seq)
        await conn.execute(
            f"INSERT INTO room_messages ({MESSAGE}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            *(getattr(stored, c.strip()) for c in MESSAGE.split(",")),
        )
        return stored

    async def post(self, message: RoomMessage, replies: list[RoomReply], turns: int) -> RoomMessage:
        async def work(conn: Any) -> RoomMessage:
            stored = await self._append(conn, message, turns)
            for i, r in enumerate(replies):
                await conn.execute(
                    f"INSERT INTO room_replies ({REPLY}) VALUES ($1, $2, $3, $4, $5, 'queued', $6, NULL, $7)",
                    r.job_id,
                    r.room_id,
                    r.message_id,
                    r.persona_id,
                    r.asked_by,
                    stored.seq * 8 + i,
                    r.created_at,
                )
            return stored

        return await in_transaction(self.pool, work)

    async def recent_posts(self, room_id: str, author_id: str, since: datetime) -> int:
        count = await self.pool.fetchval(
            "SELECT count(*) FROM room_messages WHERE room_id = $1 AND author_id = $2 "
            "AND kind = 'member' AND created_at >= $3",
            room_id,
            author_id,
            since,
        )
        return int(count)

    async def list_messages(self, room_id: str, limit: int, before_seq: int | None) -> list[RoomMessage]:
        return await fetch_all(
            self.pool,
            RoomMessage,
            f"SELECT {MESSAGE} FROM room_messages WHERE room_id = $1 AND NOT hidden "
            "AND ($2::INT IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
            room_id,
            before_seq,
            limit,
        )

    async def history(self, room_id: str, limit: int) -> list[RoomMessage]:
        return list(reversed(await self.list_messages(room_id, limit, None)))

    async def get_message(self, room_id: str, message_id: str) -> RoomMessage | None:
        return await fetch_one(
            self.pool,
            RoomMessage,
            f"SELECT {MESSAGE} FROM room_messages WHERE room_id = $1 AND id = $2 AND NOT hidden",
            room_id,
            message_id,
        )

    async def delete_message(self, room_id: str, message_id: str) -> bool:
        # Its reports go with it (ON DELETE CASCADE).
        gone = await self.pool.fetchval(
            "DELETE FROM room_messages WHERE room_id = $1 AND id = $2 RETURNING id", room_id, message_id
        )
        return gone is not None

    async def report_message(
        self, room_id: str, message_id: str, reporter_id: str, reason: str, threshold: int, now: datetime
    ) -> tuple[bool, int, bool]:
        async def work(conn: Any) -> tuple[bool, int, bool]:
            new = await conn.fetchval(
                "INSERT INTO room_message_reports (message_id, reporter_id, reason, created_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, reporter_id) DO NOTHING RETURNING true",
                message_id,
                reporter_id,
                reason,
                now,
            )
            count = await conn.fetchval(
                "SELECT count(*) FROM room_message_reports WHERE message_id = $1", message_id
            )
            hidden = await conn.fetchval(
                "UPDATE room_messages SET hidden = hidden OR $3 WHERE room_id = $1 AND id = $2 "
                "RETURNING hidden",
                room_id,
                message_id,
                int(count) >= threshold,
            )
            return bool(new), int(count), bool(hidden)

        return await in_transaction(self.pool, work)

    async def reported(self, limit: int) -> list[ReportedRoomMessage]:
        rows = await self.pool.fetch(
            f"SELECT {', '.join('m.' + c.strip() for c in MESSAGE.split(','))}, m.hidden, "
            "count(*) AS open_reports, max(r.created_at) AS last_reported_at, "
            "array_agg(r.reason ORDER BY r.created_at) AS reasons "
            "FROM room_message_reports r JOIN room_messages m ON m.id = r.message_id "
            f"GROUP BY {', '.join('m.' + c.strip() for c in MESSAGE.split(','))}, m.hidden "
            "ORDER BY last_reported_at DESC, m.id DESC LIMIT $1",
            limit,
        )
        out = []
        for row in rows:
            data = dict(row)
            extra = {k: data.pop(k) for k in ("hidden", "open_reports", "last_reported_at", "reasons")}
            out.append(ReportedRoomMessage(message=convert(data, RoomMessage), **extra))
        return out

    async def review_message(
        self, message_id: str, action: Literal["restore", "remove"]
    ) -> RoomMessage | None:
        async def work(conn: Any) -> RoomMessage | None:
            row = await conn.fetchrow(f"SELECT {MESSAGE} FROM room_messages WHERE id = $1", message_id)
            if row is None:
                return None
            if action == "remove":  # its reports go with it (ON DELETE CASCADE)
                await conn.execute("DELETE FROM room_messages WHERE id = $1", message_id)
            else:
                await conn.execute("DELETE FROM room_message_reports WHERE message_id = $1", message_id)
                await conn.execute("UPDATE room_messages SET hidden = false WHERE id = $1", message_id)
            message: RoomMessage = convert(row, RoomMessage)
            return message

        return await in_transaction(self.pool, work)

    @staticmethod
    async def _start_next(conn: Any, room_id: str) -> RoomReply | None:
        # The room's row first: whoever starts a reply in this room holds it until commit.
        await conn.execute("UPDATE rooms SET turn_index = turn_index WHERE id = $1", room_id)
        running = await conn.fetchval(
            "SELECT job_id FROM room_replies WHERE room_id = $1 AND status = 'running' LIMIT 1", room_id
        )
        if running is not None:
            return None
        return await fetch_one(
            conn,
            RoomReply,
            "UPDATE room_replies SET status = 'running' WHERE job_id = (SELECT job_id FROM room_replies "
            "WHERE room_id = $1 AND status = 'queued' ORDER BY position LIMIT 1) "
            f"RETURNING {REPLY}",
            room_id,
        )

    async def start_next(self, room_id: str) -> RoomReply | None:
        return await in_transaction(self.pool, lambda conn: self._start_next(conn, room_id))

    async def replies(self, room_id: str) -> list[RoomReply]:
        return await fetch_all(
            self.pool,
            RoomReply,
            f"SELECT {REPLY} FROM room_replies WHERE room_id = $1 AND {OPEN} "
            "ORDER BY status = 'queued', position",
            room_id,
        )

    async def get_reply(self, job_id: str) -> RoomReply | None:
        return await fetch_one(
            self.pool, RoomReply, f"SELECT {REPLY} FROM room_replies WHERE job_id = $1", job_id
        )

    async def finish_reply(self, end: ReplyEnd) -> Finished | None:
        async def work(conn: Any) -> Finished | None:
            row = await conn.fetchrow(
                f"UPDATE room_replies SET status = $2, error = $3 WHERE job_id = $1 AND {OPEN} "
                f"RETURNING {REPLY}",
                end.job_id,
                end.status,
                end.error,
            )
            if row is None:
                return None
            reply: RoomReply = convert(row, RoomReply)
            kept = await self._append(conn, end.message) if end.message is not None else None
            return Finished(reply=reply, message=kept, next=await self._start_next(conn, reply.room_id))

        return await in_transaction(self.pool, work)
