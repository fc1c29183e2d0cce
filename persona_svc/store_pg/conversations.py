"""Conversations in PostgreSQL: their messages, the generation jobs writing replies, and who each
account plays (user personas)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec
from msgspec import UnsetType

from chassis.clock import utcnow
from chassis.db import fetch_all, fetch_by_id, fetch_one
from chassis.ids import parse_uuid
from persona_svc.pagination import ActivityKey, SeqKey
from persona_svc.store import (
    Busy,
    Generation,
    MessageBusy,
    Typed,
    check_regenerable,
    edited,
    finished,
    new_turn,
    regenerated,
    reply_to,
)
from persona_svc.store_pg.base import Base, Params
from proto.conversations import Conversation, Message, UserPersona

if TYPE_CHECKING:
    from chassis.db import Conn

MESSAGE_FIELDS = ("id", "conversation_id", "seq", "role", "created_at")
# What an edit, a new swipe or a finished generation changes.
MESSAGE_CHANGES = ("content", "swipes", "swipe_index", "status", "job_id", "error", "updated_at")
MESSAGE_COLUMNS = ", ".join(MESSAGE_FIELDS + MESSAGE_CHANGES)
INSERT_MESSAGE = (
    f"INSERT INTO messages ({MESSAGE_COLUMNS})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(MESSAGE_FIELDS + MESSAGE_CHANGES) + 1))})"
)
UPDATE_MESSAGE = (
    f"UPDATE messages SET {', '.join(f'{c} = ${i}' for i, c in enumerate(MESSAGE_CHANGES, start=2))}"
    " WHERE id = $1"
)
MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM messages"
GENERATION_COLUMNS = "job_id, conversation_id, message_id, user_id, swipe_index, status, created_at"
# The persona's current name and avatar while it exists, else what the conversation kept.
CONVERSATIONS = """
    SELECT c.id, c.user_id, c.persona_id,
           COALESCE(p.name, c.persona_name) AS persona_name,
           CASE WHEN p.id IS NULL THEN c.persona_avatar_media_id ELSE p.avatar_media_id END
               AS persona_avatar_media_id,
           (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,
           COALESCE((SELECT substr(m.content, 1, 200) FROM messages m WHERE m.conversation_id = c.id
                     ORDER BY m.seq DESC LIMIT 1), '') AS last_message,
           c.pending_job_id, c.created_at, c.last_activity_at, c.title,
           CASE WHEN c.user_persona_name IS NOT NULL THEN jsonb_build_object(
               'name', c.user_persona_name, 'description', COALESCE(c.user_persona_description, ''))
           END AS user_persona
      FROM conversations c LEFT JOIN personas p ON p.id = c.persona_id
"""


class Conversations(Base):
    async def create_conversation(self, conversation: Conversation, greeting: Message | None) -> None:
        c = conversation

        async def work(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO conversations (id, user_id, persona_id, persona_name, persona_avatar_media_id,"
                " last_seq, created_at, last_activity_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                c.id,
                c.user_id,
                c.persona_id,
                c.persona_name,
                c.persona_avatar_media_id,
                greeting.seq if greeting is not None else 0,
                c.created_at,
                c.last_activity_at,
            )
            if greeting is not None:
                await self._insert_message(conn, greeting)
            await conn.execute("UPDATE personas SET chat_count = chat_count + 1 WHERE id = $1", c.persona_id)

        await self._tx(work)

    async def _insert_message(self, conn: Conn, m: Message) -> None:
        await conn.execute(INSERT_MESSAGE, *(getattr(m, c) for c in MESSAGE_FIELDS + MESSAGE_CHANGES))

    async def _update_message(self, conn: Conn, m: Message) -> None:
        await conn.execute(UPDATE_MESSAGE, m.id, *(getattr(m, c) for c in MESSAGE_CHANGES))

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await fetch_by_id(self.pool, Conversation, f"{CONVERSATIONS} WHERE c.id = $1", conversation_id)

    async def list_conversations(
        self, user_id: str, limit: int, after: ActivityKey | None, persona_id: str | None = None
    ) -> list[tuple[Conversation, ActivityKey]]:
        params = Params()
        where = f"c.user_id = {params.add(user_id)}"
        if persona_id is not None:
            where += f" AND c.persona_id = {params.add(parse_uuid(persona_id), '::UUID')}"
        if after is not None:
            where += (
                f" AND (c.last_activity_at, c.id) < ({params.add(after.last_activity_at, '::TIMESTAMPTZ')},"
                f" {params.add(parse_uuid(after.id), '::UUID')})"
            )
        found = await fetch_all(
            self.pool,
            Conversation,
            f"{CONVERSATIONS} WHERE {where} ORDER BY c.last_activity_at DESC, c.id DESC"
            f" LIMIT {params.add(limit)}",
            *params.values,
        )
        return [(c, ActivityKey(c.last_activity_at, c.id)) for c in found]

    async def update_conversation(
        self,
        conversation_id: str,
        title: str | None | UnsetType,
        user_persona: UserPersona | None | UnsetType,
    ) -> bool:
        cid = parse_uuid(conversation_id)
        if cid is None:
            return False
        params = Params()
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
        params = Params()
        where = f"conversation_id = {params.add(parse_uuid(conversation_id))}"
        if after is not None:
            where += f" AND seq < {params.add(after.seq)}"
        found = await fetch_all(
            self.pool,
            Message,
            f"{MESSAGES} WHERE {where} ORDER BY seq DESC LIMIT {params.add(limit)}",
            *params.values,
        )
        return [(m, SeqKey(m.seq)) for m in found]

    async def history(self, conversation_id: str, limit: int, before_seq: int | None = None) -> list[Message]:
        found = await fetch_all(
            self.pool,
            Message,
            f"{MESSAGES} WHERE conversation_id = $1 AND ($2::INT IS NULL OR seq < $2)"
            " ORDER BY seq DESC LIMIT $3",
            parse_uuid(conversation_id),
            before_seq,
            limit,
        )
        return found[::-1]

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None:
        return await fetch_by_id(
            self.pool,
            Message,
            f"{MESSAGES} WHERE id = $1 AND conversation_id = $2",
            message_id,
            parse_uuid(conversation_id),
        )

    async def _insert_generation(self, conn: Conn, g: Generation) -> None:
        await conn.execute(
            f"INSERT INTO generations ({GENERATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
            g.job_id,
            g.conversation_id,
            g.message_id,
            g.user_id,
            g.swipe_index,
            g.created_at,
        )

    async def start_reply(
        self, conversation_id: str, generation: Generation, typed: Typed | None
    ) -> tuple[Message | None, Message]:

        async def work(conn: Conn) -> tuple[Message | None, Message]:
            now = utcnow()
            seq = await conn.fetchval(
                "UPDATE conversations"
                " SET pending_job_id = $2, last_seq = last_seq + $3, last_activity_at = $4"
                " WHERE id = $1 AND pending_job_id IS NULL RETURNING last_seq",
                parse_uuid(conversation_id),
                generation.job_id,
                1 if typed is None else 2,
                now,
            )
            if seq is None:
                raise Busy(conversation_id)
            user, reply = new_turn(conversation_id, generation, typed, seq, now)
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
            last = await fetch_one(
                conn, Message, f"{MESSAGES} WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 1", cid
            )
            now = utcnow()
            reply = regenerated(check_regenerable(last, generation), generation.job_id, now)
            await self._update_message(conn, reply)
            await self._insert_generation(
                conn, msgspec.structs.replace(generation, swipe_index=reply.swipe_index, created_at=now)
            )
            await conn.execute(
                "UPDATE conversations SET pending_job_id = $2, last_activity_at = $3 WHERE id = $1",
                cid,
                generation.job_id,
                now,
            )
            return reply

        return await self._tx(work)

    async def get_generation(self, job_id: str) -> Generation | None:
        return await fetch_by_id(
            self.pool, Generation, f"SELECT {GENERATION_COLUMNS} FROM generations WHERE job_id = $1", job_id
        )

    async def finish_generation(
        self, job_id: str, status: Literal["done", "cancelled", "failed"], text: str, error: str | None
    ) -> Message | None:
        jid = parse_uuid(job_id)
        if jid is None:
            return None

        async def work(conn: Conn) -> Message | None:
            now = utcnow()
            g = await fetch_one(
                conn,
                Generation,
                "UPDATE generations SET status = $2, completed_at = $3"
                f" WHERE job_id = $1 AND status = 'pending' RETURNING {GENERATION_COLUMNS}",
                jid,
                status,
                now,
            )
            if g is None:
                return None
            await conn.execute(
                "UPDATE conversations SET pending_job_id = NULL, last_activity_at = $3"
                " WHERE id = $1 AND pending_job_id = $2",
                g.conversation_id,
                jid,
                now,
            )
            found = await fetch_one(conn, Message, f"{MESSAGES} WHERE id = $1 FOR UPDATE", g.message_id)
            if found is None:
                return None
            updated = finished(found, g, status, text, error, now)
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
            found = await self._locked_message(conn, mid, parse_uuid(conversation_id))
            if found is None:
                return None
            m = edited(found, content, swipe_index, utcnow())
            await self._update_message(conn, m)
            return m

        return await self._tx(work)

    async def _locked_message(self, conn: Conn, mid: object, cid: object) -> Message | None:
        return await fetch_one(
            conn, Message, f"{MESSAGES} WHERE id = $1 AND conversation_id = $2 FOR UPDATE", mid, cid
        )

    async def delete_message(self, conversation_id: str, message_id: str, with_reply: bool = False) -> bool:
        mid, cid = parse_uuid(message_id), parse_uuid(conversation_id)
        if mid is None:
            return False

        async def work(conn: Conn) -> bool:
            m = await self._locked_message(conn, mid, cid)
            if m is None:
                return False
            reply = None
            if with_reply:
                following = await fetch_one(
                    conn,
                    Message,
                    f"{MESSAGES} WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT 1 FOR UPDATE",
                    cid,
                    m.seq,
                )
                reply = reply_to(m, following)
            if m.status == "pending" or (reply is not None and reply.status == "pending"):
                raise MessageBusy(message_id)
            doomed = [m.id] if reply is None else [m.id, reply.id]
            await conn.execute("DELETE FROM messages WHERE id = ANY($1::UUID[])", doomed)
            return True

        return await self._tx(work)

    # User personas

    async def get_user_persona(self, user_id: str) -> UserPersona | None:
        return await fetch_one(
            self.pool, UserPersona, "SELECT name, description FROM user_personas WHERE user_id = $1", user_id
        )

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
