"""The in-memory room store (no DATABASE_URL): one process, lost at restart. No method awaits
in the middle, so each is atomic on the event loop."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

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

replace = msgspec.structs.replace
OPEN = ("queued", "running")


class MemoryRoomStore:
    def __init__(self) -> None:
        self.rooms: dict[str, RoomRow] = {}
        self.seqs: dict[str, int] = {}
        self.room_members: dict[str, dict[str, RoomMember]] = {}
        self.removed: dict[tuple[str, str], datetime] = {}
        self.invites: dict[str, InviteRow] = {}
        self.messages: dict[str, dict[str, RoomMessage]] = {}
        self.hidden: set[str] = set()
        # message id → reporter → (reason, when)
        self.reports: dict[str, dict[str, tuple[str, datetime]]] = {}
        self.queue: dict[str, RoomReply] = {}

    async def create_room(self, room: RoomRow, owner: RoomMember) -> None:
        self.rooms[room.id] = replace(room, member_count=1)
        self.seqs[room.id] = 0
        self.room_members[room.id] = {owner.user_id: owner}
        self.messages[room.id] = {}

    async def get_room(self, room_id: str) -> RoomRow | None:
        return self.rooms.get(room_id)

    async def list_rooms(self, user_id: str, limit: int) -> list[RoomRow]:
        mine = [r for r in self.rooms.values() if user_id in self.room_members.get(r.id, {})]
        mine.sort(key=lambda r: (r.last_activity_at, r.id), reverse=True)
        return mine[:limit]

    async def update_room(
        self, room_id: str, title: str | None, turn_policy: TurnPolicy | None
    ) -> RoomRow | None:
        room = self.rooms.get(room_id)
        if room is None:
            return None
        room = replace(room, title=title or room.title, turn_policy=turn_policy or room.turn_policy)
        self.rooms[room_id] = room
        return room

    async def delete_room(self, room_id: str) -> bool:
        if self.rooms.pop(room_id, None) is None:
            return False
        self.room_members.pop(room_id, None)
        for m in self.messages.pop(room_id, {}).values():
            self.hidden.discard(m.id)
            self.reports.pop(m.id, None)
        self.queue = {k: r for k, r in self.queue.items() if r.room_id != room_id}
        self.invites = {k: i for k, i in self.invites.items() if i.room_id != room_id}
        return True

    async def members(self, room_id: str) -> list[RoomMember]:
        return sorted(self.room_members.get(room_id, {}).values(), key=lambda m: (m.joined_at, m.user_id))

    async def member(self, room_id: str, user_id: str) -> RoomMember | None:
        return self.room_members.get(room_id, {}).get(user_id)

    async def add_invite(self, invite: InviteRow) -> None:
        self.invites[invite.code_hash] = invite

    async def join(self, code_hash: str, member: RoomMember, now: datetime) -> Joined:
        invite = self.invites.get(code_hash)
        if invite is not None and invite.room_id not in self.rooms:
            invite = None
        if invite is not None and (known := self.room_members[invite.room_id].get(member.user_id)):
            return Joined(room_id=invite.room_id, member=known, new=False)
        removed_at = self.removed.get((invite.room_id, member.user_id)) if invite else None
        problem = invite_problem(invite, removed_at, now)
        if problem is not None or invite is None:
            raise InviteRefused(problem or "unknown")
        self.invites[code_hash] = replace(invite, uses=invite.uses + 1)
        joined = replace(member, role="member", joined_at=now)
        self.room_members[invite.room_id][member.user_id] = joined
        room = self.rooms[invite.room_id]
        self.rooms[room.id] = replace(room, member_count=room.member_count + 1)
        return Joined(room_id=invite.room_id, member=joined, new=True)

    async def remove_member(self, room_id: str, user_id: str, removed: bool, now: datetime) -> bool:
        if self.room_members.get(room_id, {}).pop(user_id, None) is None:
            return False
        if removed:
            self.removed[(room_id, user_id)] = now
        room = self.rooms[room_id]
        self.rooms[room_id] = replace(room, member_count=room.member_count - 1)
        return True

    def _append(self, message: RoomMessage) -> RoomMessage:
        seq = self.seqs[message.room_id] = self.seqs[message.room_id] + 1
        stored = replace(message, seq=seq)
        self.messages[message.room_id][stored.id] = stored
        room = self.rooms[message.room_id]
        self.rooms[room.id] = replace(room, last_activity_at=max(room.last_activity_at, message.created_at))
        return stored

    async def post(self, message: RoomMessage, replies: list[RoomReply], turns: int) -> RoomMessage:
        stored = self._append(message)
        for i, reply in enumerate(replies):
            self.queue[reply.job_id] = replace(reply, position=stored.seq * 8 + i)
        room = self.rooms[message.room_id]
        self.rooms[room.id] = replace(room, turn_index=room.turn_index + turns)
        return stored

    async def recent_posts(self, room_id: str, author_id: str, since: datetime) -> int:
        return sum(
            1
            for m in self.messages.get(room_id, {}).values()
            if m.author_id == author_id and m.kind == "member" and m.created_at >= since
        )

    def _visible(self, room_id: str) -> list[RoomMessage]:
        found = [m for m in self.messages.get(room_id, {}).values() if m.id not in self.hidden]
        return sorted(found, key=lambda m: m.seq)

    async def list_messages(self, room_id: str, limit: int, before_seq: int | None) -> list[RoomMessage]:
        found = [m for m in self._visible(room_id) if before_seq is None or m.seq < before_seq]
        return list(reversed(found))[:limit]

    async def history(self, room_id: str, limit: int) -> list[RoomMessage]:
        return self._visible(room_id)[-limit:]

    async def get_message(self, room_id: str, message_id: str) -> RoomMessage | None:
        m = self.messages.get(room_id, {}).get(message_id)
        return None if m is None or m.id in self.hidden else m

    async def delete_message(self, room_id: str, message_id: str) -> bool:
        if self.messages.get(room_id, {}).pop(message_id, None) is None:
            return False
        self.reports.pop(message_id, None)  # as PostgreSQL's ON DELETE CASCADE does
        self.hidden.discard(message_id)
        return True

    async def report_message(
        self, room_id: str, message_id: str, reporter_id: str, reason: str, threshold: int, now: datetime
    ) -> tuple[bool, int, bool]:
        reporters = self.reports.setdefault(message_id, {})
        new = reporter_id not in reporters
        reporters.setdefault(reporter_id, (reason, now))
        if len(reporters) >= threshold:
            self.hidden.add(message_id)
        return new, len(reporters), message_id in self.hidden

    def _message(self, message_id: str) -> RoomMessage | None:
        return next((m[message_id] for m in self.messages.values() if message_id in m), None)

    async def reported(self, limit: int) -> list[ReportedRoomMessage]:
        found = []
        for message_id, reporters in self.reports.items():
            m = self._message(message_id)
            if m is None or not reporters:
                continue
            found.append(
                ReportedRoomMessage(
                    message=m,
                    open_reports=len(reporters),
                    hidden=message_id in self.hidden,
                    last_reported_at=max(t for _, t in reporters.values()),
                    reasons=[r for r, _ in sorted(reporters.values(), key=lambda x: x[1])],
                )
            )
        found.sort(key=lambda r: (r.last_reported_at, r.message.id), reverse=True)
        return found[:limit]

    async def review_message(
        self, message_id: str, action: Literal["restore", "remove"]
    ) -> RoomMessage | None:
        m = self._message(message_id)
        if m is None:
            return None
        self.reports.pop(message_id, None)
        self.hidden.discard(message_id)
        if action == "remove":
            del self.messages[m.room_id][message_id]
        return m

    def _waiting(self, room_id: str) -> list[RoomReply]:
        found = [r for r in self.queue.values() if r.room_id == room_id and r.status in OPEN]
        return sorted(found, key=lambda r: (r.status != "running", r.position))

    async def start_next(self, room_id: str) -> RoomReply | None:
        waiting = self._waiting(room_id)
        if not waiting or waiting[0].status == "running":
            return None
        started = self.queue[waiting[0].job_id] = replace(waiting[0], status="running")
        return started

    async def replies(self, room_id: str) -> list[RoomReply]:
        return self._waiting(room_id)

    async def get_reply(self, job_id: str) -> RoomReply | None:
        return self.queue.get(job_id)

    async def finish_reply(self, end: ReplyEnd) -> Finished | None:
        reply = self.queue.get(end.job_id)
        if reply is None or reply.status not in OPEN or reply.room_id not in self.rooms:
            return None
        ended = self.queue[end.job_id] = replace(reply, status=end.status, error=end.error)
        kept = self._append(end.message) if end.message is not None else None
        return Finished(reply=ended, message=kept, next=await self.start_next(reply.room_id))
