"""The room store protocol: rooms, members, invites, messages and the reply queue, in memory
(`store_rooms_memory.py`) or PostgreSQL/CockroachDB (`store_pg_rooms.py`).

Both pass the same contract suite (`tests/persona_svc/test_rooms_store.py`). A room's message
`seq` and its reply queue are changed under the room's row, so two replicas never give two
messages one seq or start two replies at once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal, Protocol

import msgspec

from proto.rooms import ReportedRoomMessage, Room, RoomMember, RoomMessage, RoomPersona, RoomReply, TurnPolicy


class RoomRow(msgspec.Struct, kw_only=True):
    """A room as stored: its personas' names and avatars as they were when it was created."""

    id: str
    title: str
    owner_id: str
    turn_policy: TurnPolicy = "manual"
    persona_ids: list[str]
    persona_names: list[str]
    # "" for a persona without an avatar.
    persona_avatars: list[str]
    member_count: int = 1
    # Round-robin: how many replies the policy has handed out (the next persona is this modulo).
    turn_index: int = 0
    created_at: datetime
    last_activity_at: datetime

    def view(self) -> Room:
        personas = [
            RoomPersona(id=i, name=n, avatar_media_id=a or None)
            for i, n, a in zip(self.persona_ids, self.persona_names, self.persona_avatars, strict=True)
        ]
        return Room(
            id=self.id,
            title=self.title,
            owner_id=self.owner_id,
            turn_policy=self.turn_policy,
            personas=personas,
            member_count=self.member_count,
            created_at=self.created_at,
            last_activity_at=self.last_activity_at,
        )


class InviteRow(msgspec.Struct, kw_only=True):
    code_hash: str
    room_id: str
    created_by: str
    max_uses: int | None
    uses: int = 0
    expires_at: datetime
    created_at: datetime


InviteProblem = Literal["unknown", "expired", "used_up", "removed"]


class InviteRefused(Exception):
    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(problem)
        self.problem = problem


class Joined(msgspec.Struct, kw_only=True):
    room_id: str
    member: RoomMember
    # False when the caller was a member already (nothing changed, no use counted).
    new: bool


class ReplyEnd(msgspec.Struct, frozen=True):
    """How a reply ended: its status, the message to keep (None when no text was written), the
    error shown for a failed one."""

    job_id: str
    status: Literal["done", "cancelled", "failed"]
    message: RoomMessage | None = None
    error: str | None = None


class Finished(msgspec.Struct, kw_only=True):
    """A reply that ended here: its final state, the message kept (None when no text was
    written), and the next reply of the room, started in the same transaction."""

    reply: RoomReply
    message: RoomMessage | None
    next: RoomReply | None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invite_problem(
    invite: InviteRow | None, removed_at: datetime | None, now: datetime
) -> InviteProblem | None:
    """Why `invite` cannot admit someone removed at `removed_at` (None: it can). A member the
    owner removed may only come back with an invite made after the removal."""
    if invite is None:
        return "unknown"
    if invite.expires_at <= now:
        return "expired"
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return "used_up"
    if removed_at is not None and invite.created_at <= removed_at:
        return "removed"
    return None


class RoomStore(Protocol):
    async def create_room(self, room: RoomRow, owner: RoomMember) -> None: ...

    async def get_room(self, room_id: str) -> RoomRow | None: ...

    async def list_rooms(self, user_id: str, limit: int) -> list[RoomRow]:
        """The rooms `user_id` is a member of, latest activity first."""
        ...

    async def update_room(
        self, room_id: str, title: str | None, turn_policy: TurnPolicy | None
    ) -> RoomRow | None: ...

    async def delete_room(self, room_id: str) -> bool: ...

    async def members(self, room_id: str) -> list[RoomMember]:
        """Oldest member first (the owner)."""
        ...

    async def member(self, room_id: str, user_id: str) -> RoomMember | None: ...

    async def add_invite(self, invite: InviteRow) -> None: ...

    async def join(self, code_hash: str, member: RoomMember, now: datetime) -> Joined:
        """Admit `member` (its `room_id` is the invite's) with the invite, counting one use;
        raises InviteRefused."""
        ...

    async def remove_member(self, room_id: str, user_id: str, removed: bool, now: datetime) -> bool:
        """Take `user_id` out of the room; `removed` (by the owner) also makes every invite made
        until now refuse them. False when they were not a member."""
        ...

    async def post(self, message: RoomMessage, replies: list[RoomReply], turns: int) -> RoomMessage:
        """Store a member's message (its seq assigned here) and queue `replies` after it;
        advance the round-robin count by `turns`. Returns the message as stored."""
        ...

    async def recent_posts(self, room_id: str, author_id: str, since: datetime) -> int:
        """How many messages `author_id` posted in the room since `since`."""
        ...

    async def list_messages(self, room_id: str, limit: int, before_seq: int | None) -> list[RoomMessage]:
        """Visible messages, newest first, strictly before `before_seq`."""
        ...

    async def history(self, room_id: str, limit: int) -> list[RoomMessage]:
        """The latest `limit` visible messages, oldest first (a prompt's history)."""
        ...

    async def get_message(self, room_id: str, message_id: str) -> RoomMessage | None: ...

    async def delete_message(self, room_id: str, message_id: str) -> bool: ...

    async def report_message(
        self, room_id: str, message_id: str, reporter_id: str, reason: str, threshold: int, now: datetime
    ) -> tuple[bool, int, bool]:
        """Record one report per reporter: (new report, distinct reporters, hidden now)."""
        ...

    async def reported(self, limit: int) -> list[ReportedRoomMessage]:
        """Messages with open reports, latest report first (hidden ones included)."""
        ...

    async def review_message(
        self, message_id: str, action: Literal["restore", "remove"]
    ) -> RoomMessage | None:
        """`restore`: shown again, its reports closed; `remove`: deleted. None when unknown."""
        ...

    async def start_next(self, room_id: str) -> RoomReply | None:
        """Start the room's first queued reply when none is running; None when one is running
        or none waits."""
        ...

    async def replies(self, room_id: str) -> list[RoomReply]:
        """The running reply and the queued ones, in order."""
        ...

    async def get_reply(self, job_id: str) -> RoomReply | None: ...

    async def finish_reply(self, end: ReplyEnd) -> Finished | None:
        """End a queued or running reply, keep `message` (its seq assigned here) and start the
        next one; None when the reply had already ended (a redelivered result)."""
        ...
