"""Group rooms: several people and several personas in one live conversation (docs/rooms.md).

API bodies, the room's stored shapes, and the events on `channel:<room id>`. `room_presence` and
`room_typing` are ephemeral (core NATS on `ephemeral.events.channel.<room id>`, never stored or
replayed); every other room event is stored in EVENTS like any channel event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from proto.conversations import UUID_PATTERN, Content, Title
from proto.events import Event

TurnPolicy = Literal["manual", "round_robin"]
RoomRole = Literal["owner", "member"]
# A member's own message, or a persona's reply.
AuthorKind = Literal["member", "persona"]
ReplyStatus = Literal["queued", "running", "done", "cancelled", "failed"]
PersonaId = Annotated[str, Meta(pattern=UUID_PATTERN)]
# Invites live between a minute and thirty days; a week unless told.
MIN_INVITE_TTL = 60
MAX_INVITE_TTL = 30 * 24 * 3600
DEFAULT_INVITE_TTL = 7 * 24 * 3600
MAX_PERSONAS = 4


class RoomCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /rooms`: 1 to 4 personas the creator may chat with (each readable by them)."""

    title: Title
    persona_ids: Annotated[list[PersonaId], Meta(min_length=1, max_length=MAX_PERSONAS)]
    turn_policy: TurnPolicy = "manual"


class RoomPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`PATCH /rooms/{room_id}` (owner): rename, or change who answers when no one is named."""

    title: Title | UnsetType = UNSET
    turn_policy: TurnPolicy | UnsetType = UNSET


class RoomPersona(msgspec.Struct, kw_only=True):
    id: str
    name: str
    avatar_media_id: str | None = None
    # Its thumbnail's URL, in answers (not in events: clients fetch the room again on those).
    avatar_url: str | None = None


class RoomMember(msgspec.Struct, kw_only=True):
    """A person in the room: `display_name` is who they play (their user persona's name, else
    their account's display name) when they joined."""

    user_id: str
    display_name: str
    role: RoomRole
    joined_at: datetime


class Room(msgspec.Struct, kw_only=True):
    id: str
    title: str
    owner_id: str
    turn_policy: TurnPolicy = "manual"
    personas: list[RoomPersona] = []
    member_count: int = 1
    created_at: datetime
    last_activity_at: datetime


class RoomDetail(msgspec.Struct, kw_only=True):
    """`GET /rooms/{room_id}`: the room, its members and the caller's role in it."""

    room: Room
    members: list[RoomMember]
    role: RoomRole
    # The reply being written now and the ones waiting after it, in order.
    replies: list[RoomReply] = []


class InviteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /rooms/{room_id}/invites` (owner): `max_uses` joins at most (none: unlimited),
    valid `expires_in` seconds (a week unless told)."""

    max_uses: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    expires_in: Annotated[int, Meta(ge=MIN_INVITE_TTL, le=MAX_INVITE_TTL)] = DEFAULT_INVITE_TTL


class Invite(msgspec.Struct, kw_only=True):
    """The code is shown once (only its hash is stored); `url` opens the web UI's join page."""

    code: str
    url: str
    expires_at: datetime
    max_uses: int | None = None


class JoinRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=1, max_length=128)]


class RoomMessageCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /rooms/{room_id}/messages`: `persona_id` (one of the room's) asks that persona to
    reply; without it, `@Name` mentions do, else the room's turn policy."""

    content: Content
    persona_id: PersonaId | None = None


class RoomMessage(msgspec.Struct, kw_only=True):
    """A member's message (`author_id` is their user id) or a persona's reply (`author_id` is
    the persona id, `asked_by` the member whose message asked for it)."""

    id: str
    room_id: str
    seq: int
    kind: AuthorKind
    author_id: str
    author_name: str
    content: str
    asked_by: str | None = None
    job_id: str | None = None
    # A reply stopped early keeps its partial text with status "cancelled".
    status: Literal["done", "cancelled", "failed"] = "done"
    created_at: datetime


class RoomReply(msgspec.Struct, kw_only=True):
    """A persona's reply, queued or being written: one at a time per room, in order."""

    job_id: str
    room_id: str
    message_id: str
    persona_id: str
    asked_by: str
    status: ReplyStatus = "queued"
    # Order in the room's queue (the asking message's seq, then the mention's place in it).
    position: int = 0
    error: str | None = None
    created_at: datetime


class RoomTurn(msgspec.Struct, kw_only=True):
    """`202` for a message: the stored message, and the reply jobs it queued (`job_id` is the
    first, or null when no persona was asked)."""

    message: RoomMessage
    job_id: str | None = None
    replies: list[RoomReply] = []


class ReplyStop(msgspec.Struct, kw_only=True):
    job_id: str
    # True when a worker was writing it (its partial text is kept and announced when it stops);
    # False when it had not started: it is dropped from the queue at once.
    stopping: bool


class RoomReportState(msgspec.Struct, kw_only=True):
    message_id: str
    open_reports: int
    # Hidden from the room's history (and from prompts) once enough members reported it.
    hidden: bool


class ReportedRoomMessage(msgspec.Struct, kw_only=True):
    """One entry of the room messages' moderation queue (`GET /rooms/reports`, admins only)."""

    message: RoomMessage
    open_reports: int
    hidden: bool
    last_reported_at: datetime
    reasons: list[str] = []


class RoomMessagesQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Newest first; pass `meta.next_cursor` as `cursor` for older messages."""

    limit: Annotated[int, Meta(ge=1, le=100)] = 50
    cursor: Annotated[str, Meta(max_length=512)] | None = None


class RoomModerationQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=100)] = 50


class ChannelAccess(msgspec.Struct, kw_only=True):
    """`GET /channels/{channel_id}`: the caller may follow `channel:<channel_id>`; what it is."""

    channel_id: str
    kind: Literal["conversation", "room"]


# Events on `channel:<room id>`


class RoomMessageEvent(Event, tag="room_message"):
    """A member posted `message` in the room. On `channel:<room id>`; stored and replayable."""

    room_id: str
    message: RoomMessage


class RoomMessageDeleted(Event, tag="room_message_deleted"):
    """The owner (or its author) deleted a message, or reports hid it. On `channel:<room id>`."""

    room_id: str
    message_id: str


class RoomMemberJoined(Event, tag="room_member_joined"):
    """Someone joined with an invite. On `channel:<room id>`."""

    room_id: str
    member: RoomMember


class RoomMemberLeft(Event, tag="room_member_left"):
    """A member left, or the owner removed them (`removed` true). On `channel:<room id>` and on
    the member's own `user:<id>`; a removed member's streams stop carrying the room at once (an
    `event: channel_dropped` frame, not stored, says so)."""

    room_id: str
    user_id: str
    removed: bool = False


class RoomUpdated(Event, tag="room_updated"):
    """The owner renamed the room or changed its turn policy. On `channel:<room id>`."""

    room: Room


class RoomDeleted(Event, tag="room_deleted"):
    """The owner deleted the room. On `channel:<room id>`."""

    room_id: str


class RoomReplyQueued(Event, tag="room_reply_queued"):
    """A persona will reply once the replies ahead of it end. On `channel:<room id>`."""

    room_id: str
    reply: RoomReply


class RoomPresence(Event, tag="room_presence"):
    """Who has the room open now (members with a stream following `channel:<room id>`), sent
    whenever that changes. Ephemeral: live only, never stored or replayed, no `id:`."""

    room_id: str
    user_ids: list[str]


class RoomTyping(Event, tag="room_typing"):
    """A member is typing (sent at most every few seconds per member). Ephemeral like
    `room_presence`."""

    room_id: str
    user_id: str
    display_name: str


room_reply_decoder = msgspec.json.Decoder(RoomReply)
