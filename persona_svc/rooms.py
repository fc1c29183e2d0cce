"""Group rooms (docs/rooms.md): members, invites, messages, and the persona replies they ask for.

A reply is a chat job like a conversation's (`jobs.chat`, its `conversation_id` the room id, so
the worker streams it on `channel:<room id>`), but a room runs one at a time: replies wait in
the room's queue and each is submitted when the one before it ends, its prompt built then (so
it sees the replies before it). Results come back on `results.chat` to this module's own durable
consumer (`results.py`'s ignores jobs it does not know, and so does this one); the ending event
is published after the commit, once per job (docs/events.md), then the next reply starts.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any, Literal

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from chassis.channel_drops import ChannelDrops
from chassis.clock import utcnow
from chassis.context import request_id_var
from chassis.errors import Conflict, Forbidden, NotFound, TooManyRequests, UnprocessableEntity
from chassis.events import EventPublisher
from chassis.ids import new_id
from chassis.jobs import request_cancel, submit
from chassis.settings import Settings
from chassis.subscribers import Subscriber
from persona_svc import pagination, prompt, rooms_prompt
from persona_svc.chat import ChatService
from persona_svc.media import thumbnail
from persona_svc.pagination import SeqKey
from persona_svc.service import next_cursor
from persona_svc.store_rooms import InviteRefused, InviteRow, ReplyEnd, RoomRow, RoomStore, code_hash
from proto.chat import (
    AiChatCancelled,
    AiChatDone,
    AiChatError,
    ChatJob,
    ChatResult,
    ChatUsage,
    chat_result_decoder,
)
from proto.events import Event
from proto.identity import Identity
from proto.jobs import DeadLetter
from proto.personas import ReportCreate
from proto.rooms import (
    ChannelAccess,
    Invite,
    InviteCreate,
    ReplyStop,
    ReportedRoomMessage,
    Room,
    RoomCreate,
    RoomDeleted,
    RoomDetail,
    RoomMember,
    RoomMemberJoined,
    RoomMemberLeft,
    RoomMessage,
    RoomMessageCreate,
    RoomMessageDeleted,
    RoomMessageEvent,
    RoomMessagesQuery,
    RoomPatch,
    RoomReply,
    RoomReplyQueued,
    RoomReportState,
    RoomTurn,
    RoomTyping,
    RoomUpdated,
)
from proto.subjects import JOBS_CHAT, JOBS_DEAD, RESULTS_ROOM, room_channel, user_channel

log = structlog.get_logger("persona_svc.rooms")

# A member may post RATE_LIMIT messages per RATE_WINDOW seconds in one room.
RATE_LIMIT = 8
RATE_WINDOW = 20.0
# One `room_typing` per member and room per TYPING_GAP seconds, however often they type.
TYPING_GAP = 3.0
HISTORY_LIMIT = 100
LIST_LIMIT = 100
DURABLE_RESULTS = "persona-rooms-room-results"
DURABLE_DEAD = "persona-rooms-dead-jobs"
_job_ids = msgspec.json.Decoder(ChatJob)


class RoomService:
    def __init__(
        self, store: RoomStore, chat: ChatService, settings: Settings, nc: NATS, js: JetStreamContext
    ) -> None:
        self.store = store
        self.chat = chat
        self.personas = chat.personas
        self.settings = settings
        self.nc = nc
        self.js = js
        self.events = EventPublisher(js, nc)
        self.drops = ChannelDrops(js)
        self._typing: dict[tuple[str, str], float] = {}

    def subscribers(self) -> list[Subscriber[Any]]:
        return [
            Subscriber(
                subject=RESULTS_ROOM,
                durable=DURABLE_RESULTS,
                decoder=chat_result_decoder,
                handler=self.on_result,
                concurrency=8,
            ),
            Subscriber(
                subject=JOBS_DEAD,
                durable=DURABLE_DEAD,
                decoder=msgspec.json.Decoder(DeadLetter),
                handler=self.on_dead_letter,
                concurrency=8,
            ),
        ]

    # Access

    async def _room(self, room_id: str) -> RoomRow:
        room = await self.store.get_room(room_id)
        if room is None:
            raise NotFound("no such room", details={"room_id": room_id})
        return room

    async def _member(self, room_id: str, identity: Identity) -> tuple[RoomRow, RoomMember]:
        room = await self._room(room_id)
        member = await self.store.member(room_id, identity.user_id)
        if member is None:
            raise Forbidden("you are not a member of this room", details={"room_id": room_id})
        return room, member

    async def _owner(self, room_id: str, identity: Identity) -> RoomRow:
        room, member = await self._member(room_id, identity)
        if member.role != "owner":
            raise Forbidden("only the room's owner can do this", details={"room_id": room_id})
        return room

    async def channel_access(self, channel_id: str, identity: Identity) -> ChannelAccess:
        """Who may follow `channel:<id>`: a room's members, or a conversation's owner."""
        if await self.store.get_room(channel_id) is not None:
            await self._member(channel_id, identity)
            return ChannelAccess(channel_id=channel_id, kind="room")
        await self.chat.mine(channel_id, identity)
        return ChannelAccess(channel_id=channel_id, kind="conversation")

    # Rooms

    async def create(self, identity: Identity, body: RoomCreate) -> RoomDetail:
        if len(set(body.persona_ids)) != len(body.persona_ids):
            raise UnprocessableEntity("a persona is listed twice", field="persona_ids")
        if not body.title.strip():
            raise UnprocessableEntity("the title is blank", field="title")
        personas = []
        for i, persona_id in enumerate(body.persona_ids):
            try:
                personas.append(await self.personas.readable(persona_id, identity))
            except NotFound:
                raise UnprocessableEntity(
                    "no such persona (or not one you may chat with)", field=f"persona_ids[{i}]"
                ) from None
        now = utcnow()
        room = RoomRow(
            id=new_id(),
            title=body.title.strip(),
            owner_id=identity.user_id,
            turn_policy=body.turn_policy,
            persona_ids=[p.id for p in personas],
            persona_names=[prompt.char_name(p) for p in personas],
            persona_avatars=[p.avatar_media_id or "" for p in personas],
            created_at=now,
            last_activity_at=now,
        )
        await self.store.create_room(room, await self._as_member(identity, "owner"))
        return await self.detail(room.id, identity)

    async def _as_member(self, identity: Identity, role: Literal["owner", "member"]) -> RoomMember:
        name = (await self.chat.playing(identity)).name
        return RoomMember(user_id=identity.user_id, display_name=name, role=role, joined_at=utcnow())

    async def detail(self, room_id: str, identity: Identity) -> RoomDetail:
        room, member = await self._member(room_id, identity)
        return RoomDetail(
            room=(await self._with_avatars([room.view()], identity))[0],
            members=await self.store.members(room_id),
            role=member.role,
            replies=await self.store.replies(room_id),
        )

    async def listing(self, identity: Identity) -> list[Room]:
        rooms = [r.view() for r in await self.store.list_rooms(identity.user_id, LIST_LIMIT)]
        return await self._with_avatars(rooms, identity)

    async def _with_avatars(self, rooms: list[Room], identity: Identity) -> list[Room]:
        """Each room persona's avatar (its thumbnail), one media lookup for them all."""
        ids = [p.avatar_media_id for r in rooms for p in r.personas if p.avatar_media_id]
        media = await self.chat.personas.media.lookup(identity, ids)
        return [
            msgspec.structs.replace(
                r,
                personas=[
                    msgspec.structs.replace(p, avatar_url=thumbnail(media, p.avatar_media_id))
                    for p in r.personas
                ],
            )
            for r in rooms
        ]

    async def update(self, identity: Identity, room_id: str, patch: RoomPatch) -> RoomDetail:
        await self._owner(room_id, identity)
        title = None if isinstance(patch.title, msgspec.UnsetType) else patch.title.strip()
        policy = None if isinstance(patch.turn_policy, msgspec.UnsetType) else patch.turn_policy
        if title == "":
            raise UnprocessableEntity("the title is blank", field="title")
        if title is None and policy is None:
            raise UnprocessableEntity("nothing to change: send title and/or turn_policy", field="body")
        room = await self.store.update_room(room_id, title, policy)
        if room is None:
            raise NotFound("no such room", details={"room_id": room_id})
        await self.events.publish([room_channel(room_id)], RoomUpdated(room=room.view()))
        return await self.detail(room_id, identity)

    async def delete(self, identity: Identity, room_id: str) -> None:
        await self._owner(room_id, identity)
        running = [r for r in await self.store.replies(room_id) if r.status == "running"]
        await self.store.delete_room(room_id)
        for r in running:  # its result will find no room and be ignored
            await request_cancel(self.nc, self.js, r.job_id, timeout=self.settings.persona_cancel_timeout)
        await self.events.publish([room_channel(room_id)], RoomDeleted(room_id=room_id))

    # Members

    async def invite(self, identity: Identity, room_id: str, body: InviteCreate) -> Invite:
        await self._owner(room_id, identity)
        code = secrets.token_urlsafe(16)
        now = utcnow()
        expires_at = now + timedelta(seconds=body.expires_in)
        await self.store.add_invite(
            InviteRow(
                code_hash=code_hash(code),
                room_id=room_id,
                created_by=identity.user_id,
                max_uses=body.max_uses,
                expires_at=expires_at,
                created_at=now,
            )
        )
        url = f"{self.settings.public_url.rstrip('/')}/#/rooms/join/{code}"
        return Invite(code=code, url=url, expires_at=expires_at, max_uses=body.max_uses)

    async def join(self, identity: Identity, code: str) -> RoomDetail:
        member = await self._as_member(identity, "member")
        try:
            joined = await self.store.join(code_hash(code.strip()), member, utcnow())
        except InviteRefused as exc:
            raise _refusal(exc) from None
        if joined.new:
            await self.drops.restore(joined.room_id, identity.user_id)
            event = RoomMemberJoined(room_id=joined.room_id, member=joined.member)
            await self.events.publish([room_channel(joined.room_id)], event)
        return await self.detail(joined.room_id, identity)

    async def remove(self, identity: Identity, room_id: str, user_id: str) -> None:
        """The owner removes a member, or a member leaves (`user_id` is their own)."""
        room, member = await self._member(room_id, identity)
        leaving = user_id == identity.user_id
        if leaving and member.role == "owner":
            raise Conflict("the owner cannot leave the room: delete it instead", details={"room_id": room_id})
        if not leaving and member.role != "owner":
            raise Forbidden("only the room's owner can remove members", details={"room_id": room_id})
        if not await self.store.remove_member(room_id, user_id, not leaving, utcnow()):
            raise NotFound("no such member in this room", details={"user_id": user_id})
        # Their streams stop carrying the room before anyone hears they left.
        await self.drops.drop(room.id, user_id)
        event = RoomMemberLeft(room_id=room_id, user_id=user_id, removed=not leaving)
        await self.events.publish([room_channel(room_id), user_channel(user_id)], event)

    # Messages

    async def post(self, identity: Identity, room_id: str, body: RoomMessageCreate) -> RoomTurn:
        room, member = await self._member(room_id, identity)
        if not body.content.strip():
            raise UnprocessableEntity("the message is empty", field="content")
        now = utcnow()
        since = now - timedelta(seconds=RATE_WINDOW)
        if await self.store.recent_posts(room_id, identity.user_id, since) >= RATE_LIMIT:
            raise TooManyRequests(
                f"at most {RATE_LIMIT} messages every {RATE_WINDOW:g} s in a room: wait a moment",
                retry_after=RATE_WINDOW / RATE_LIMIT,
                details={"limit": RATE_LIMIT, "window": RATE_WINDOW},
            )
        addressed, turns = self._addressed(room, body)
        message = RoomMessage(
            id=new_id(),
            room_id=room_id,
            seq=0,
            kind="member",
            author_id=identity.user_id,
            author_name=member.display_name,
            content=body.content,
            created_at=now,
        )
        replies = [
            RoomReply(
                job_id=new_id(),
                room_id=room_id,
                message_id=new_id(),
                persona_id=persona_id,
                asked_by=identity.user_id,
                created_at=now,
            )
            for persona_id in addressed
        ]
        stored = await self.store.post(message, replies, turns)
        replies = [msgspec.structs.replace(r, position=stored.seq * 8 + i) for i, r in enumerate(replies)]
        channel = [room_channel(room_id)]
        await self.events.publish(channel, RoomMessageEvent(room_id=room_id, message=stored))
        for reply in replies:
            await self.events.publish(channel, RoomReplyQueued(room_id=room_id, reply=reply))
        if replies:
            await self._advance(room_id)
        return RoomTurn(message=stored, job_id=replies[0].job_id if replies else None, replies=replies)

    def _addressed(self, room: RoomRow, body: RoomMessageCreate) -> tuple[list[str], int]:
        """The personas asked to reply (in order), and how far the round robin moves."""
        if body.persona_id is not None:
            if body.persona_id not in room.persona_ids:
                raise UnprocessableEntity("that persona is not in this room", field="persona_id")
            return [body.persona_id], 0
        named = rooms_prompt.mentioned(
            body.content, list(zip(room.persona_ids, room.persona_names, strict=True))
        )
        if named:
            return named, 0
        if room.turn_policy == "round_robin":
            return [room.persona_ids[room.turn_index % len(room.persona_ids)]], 1
        return [], 0

    async def messages(
        self, identity: Identity, room_id: str, query: RoomMessagesQuery
    ) -> tuple[list[RoomMessage], str | None]:
        await self._member(room_id, identity)
        after = pagination.decode(query.cursor, SeqKey)
        rows = await self.store.list_messages(room_id, query.limit + 1, after.seq if after else None)
        keyed = [(m, SeqKey(seq=m.seq)) for m in rows]
        return rows[: query.limit], next_cursor(keyed, query.limit)

    async def delete_message(self, identity: Identity, room_id: str, message_id: str) -> None:
        _, member = await self._member(room_id, identity)
        m = await self.store.get_message(room_id, message_id)
        if m is None:
            raise NotFound("no such message", details={"message_id": message_id})
        own = m.kind == "member" and m.author_id == identity.user_id
        if member.role != "owner" and not own:
            raise Forbidden("only the room's owner or the message's author can delete it")
        if await self.store.delete_message(room_id, message_id):
            await self.events.publish(
                [room_channel(room_id)], RoomMessageDeleted(room_id=room_id, message_id=message_id)
            )

    async def report(
        self, identity: Identity, room_id: str, message_id: str, body: ReportCreate
    ) -> tuple[bool, RoomReportState]:
        await self._member(room_id, identity)
        m = await self.store.get_message(room_id, message_id)
        if m is None:
            raise NotFound("no such message", details={"message_id": message_id})
        if m.kind == "member" and m.author_id == identity.user_id:
            raise UnprocessableEntity("you cannot report your own message", field="message_id")
        threshold = self.settings.persona_report_threshold
        new, count, hidden = await self.store.report_message(
            room_id, message_id, identity.user_id, body.reason, threshold, utcnow()
        )
        if new and hidden and count == threshold:
            await self.events.publish(
                [room_channel(room_id)], RoomMessageDeleted(room_id=room_id, message_id=message_id)
            )
        return new, RoomReportState(message_id=message_id, open_reports=count, hidden=hidden)

    async def moderation_queue(self, limit: int) -> list[ReportedRoomMessage]:
        return await self.store.reported(limit)

    async def review(self, message_id: str, action: Literal["restore", "remove"]) -> RoomMessage:
        """An admin's decision on a reported message: shown again (its reports closed) or deleted."""
        m = await self.store.review_message(message_id, action)
        if m is None:
            raise NotFound("no such message", details={"message_id": message_id})
        if action == "remove":
            await self.events.publish(
                [room_channel(m.room_id)], RoomMessageDeleted(room_id=m.room_id, message_id=m.id)
            )
        else:
            await self.events.publish(
                [room_channel(m.room_id)], RoomMessageEvent(room_id=m.room_id, message=m)
            )
        return m

    async def typing(self, identity: Identity, room_id: str) -> None:
        _, member = await self._member(room_id, identity)
        key, now = (room_id, identity.user_id), time.monotonic()
        if now - self._typing.get(key, float("-inf")) < TYPING_GAP:
            return
        if len(self._typing) > 10_000:
            self._typing = {k: t for k, t in self._typing.items() if now - t < TYPING_GAP}
        self._typing[key] = now
        event = RoomTyping(room_id=room_id, user_id=identity.user_id, display_name=member.display_name)
        await self.events.flash([room_channel(room_id)], event)

    # Replies

    async def stop(self, identity: Identity, room_id: str, job_id: str) -> ReplyStop:
        _, member = await self._member(room_id, identity)
        reply = await self.store.get_reply(job_id)
        if reply is None or reply.room_id != room_id:
            raise NotFound("no such reply", details={"job_id": job_id})
        if reply.asked_by != identity.user_id and member.role != "owner":
            raise Forbidden("only the member who asked, or the owner, can stop this reply")
        if reply.status not in ("queued", "running"):
            raise Conflict(f"this reply is already {reply.status}", details={"job_id": job_id})
        # Asked of a queued reply too: the next may have started it since it was read. The marker
        # is stored first, so a worker that takes the job later cancels it at once.
        timeout = self.settings.persona_cancel_timeout
        if await request_cancel(self.nc, self.js, job_id, timeout=timeout):
            return ReplyStop(job_id=job_id, stopping=True)
        # No worker holds it: it ends here.
        await self._end(reply, "cancelled", "", None)
        return ReplyStop(job_id=job_id, stopping=False)

    async def _advance(self, room_id: str) -> None:
        reply = await self.store.start_next(room_id)
        if reply is not None:
            await self._submit(reply)

    async def _submit(self, reply: RoomReply) -> None:
        """Build the prompt now (the replies before this one are in the history) and queue it."""
        room = await self.store.get_room(reply.room_id)
        persona = await self.personas.store.get_persona(reply.persona_id)
        if room is None or persona is None:
            await self._end(reply, "failed", "", "this persona is no longer available")
            return
        members = await self.store.members(room.id)
        names = {m.user_id: m.display_name for m in members}
        others = [n for i, n in zip(room.persona_ids, room.persona_names, strict=True) if i != persona.id]
        asker = names.get(reply.asked_by, "Someone")
        job = ChatJob(
            job_id=reply.job_id,
            user_id=reply.asked_by,
            request_id=request_id_var.get(),
            conversation_id=room.id,
            message_id=reply.message_id,
            persona_id=persona.id,
            persona_name=prompt.char_name(persona),
            user_name=asker,
            messages=rooms_prompt.build(
                persona,
                room.id,
                room.title,
                asker,
                [m.display_name for m in members],
                others,
                await self.store.history(room.id, HISTORY_LIMIT),
                self.chat.budget,
            ),
            max_tokens=self.settings.persona_reply_max_tokens,
            temperature=self.settings.persona_chat_temperature,
            results_subject=RESULTS_ROOM,
            speaker_labels=True,
        )

        async def failed() -> None:
            await self._end(reply, "failed", "", "could not queue the reply")

        await submit(self.js, JOBS_CHAT, reply.job_id, job, mark_failed=failed)

    async def _end(
        self,
        reply: RoomReply,
        status: Literal["done", "cancelled", "failed"],
        text: str,
        error: str | None,
        result: ChatResult | None = None,
    ) -> None:
        """Store how `reply` ended (its text as a message when there is any), announce it, and
        start the next reply of the room."""
        room = await self.store.get_room(reply.room_id)
        message = None
        if text and room is not None:
            name = dict(zip(room.persona_ids, room.persona_names, strict=True)).get(reply.persona_id, "")
            message = RoomMessage(
                id=reply.message_id,
                room_id=reply.room_id,
                seq=0,
                kind="persona",
                author_id=reply.persona_id,
                author_name=name,
                content=text,
                asked_by=reply.asked_by,
                job_id=reply.job_id,
                status=status,
                created_at=utcnow(),
            )
        finished = await self.store.finish_reply(ReplyEnd(reply.job_id, status, message, error))
        if finished is None:
            ended = await self.store.get_reply(reply.job_id)
            if ended is None or ended.status != status:
                log.info("room reply result ignored (ended otherwise)", job_id=reply.job_id)
                return
            # A redelivered result: stored before, announced again (EVENTS keeps one copy), and
            # the next reply, started in that same commit, is queued again (deduplicated by id).
            await self._announce(ended, status, text, error, result)
            running = [r for r in await self.store.replies(reply.room_id) if r.status == "running"]
            for r in running:
                await self._submit(r)
            return
        await self._announce(finished.reply, status, text, error, result)
        if finished.next is not None:
            await self._submit(finished.next)

    async def _announce(
        self,
        reply: RoomReply,
        status: Literal["done", "cancelled", "failed"],
        text: str,
        error: str | None,
        result: ChatResult | None,
    ) -> None:
        ids: dict[str, Any] = {
            "job_id": reply.job_id,
            "conversation_id": reply.room_id,
            "message_id": reply.message_id,
            "persona_id": reply.persona_id,
            "asked_by": reply.asked_by,
        }
        event: Event
        if status == "done":
            event = AiChatDone(
                **ids,
                text=text,
                finish_reason=result.finish_reason if result else "",
                usage=result.usage if result else ChatUsage(),
                provider=result.provider if result else "",
                model=result.model if result else "",
            )
        elif status == "cancelled":
            event = AiChatCancelled(**ids, text=text)
        else:
            event = AiChatError(**ids, reason=error or "the reply failed")
        channels = [user_channel(reply.asked_by), room_channel(reply.room_id)]
        await self.events.publish(channels, event, once=reply.job_id)

    async def on_result(self, result: ChatResult) -> None:
        reply = await self.store.get_reply(result.job_id)
        if reply is None:
            return  # a deleted room's
        await self._end(reply, result.status, result.text, result.error, result)

    async def on_dead_letter(self, letter: DeadLetter) -> None:
        if letter.subject != JOBS_CHAT:
            return
        try:
            job_id = _job_ids.decode(letter.payload).job_id
        except msgspec.ValidationError:
            job_id = letter.job_id
        reply = await self.store.get_reply(job_id)
        if reply is not None and reply.status in ("queued", "running"):
            await self._end(reply, "failed", "", letter.reason)


def _refusal(exc: InviteRefused) -> Exception:
    if exc.problem == "unknown":
        return NotFound("this invite code is not valid", code="invite_unknown")
    if exc.problem == "expired":
        return Forbidden("this invite has expired: ask the owner for a new one", code="invite_expired")
    if exc.problem == "used_up":
        return Forbidden("this invite has been used up: ask the owner for a new one", code="invite_used_up")
    return Forbidden(
        "the owner removed you from this room: an invite made before that no longer works",
        code="removed_from_room",
    )
