"""Conversations with a persona: their messages, swipes, and the chat turns that generate replies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

MessageRole = Literal["user", "assistant"]
# pending: a job is writing it; cancelled/failed: the last generation stopped early.
MessageStatus = Literal["done", "pending", "cancelled", "failed"]
Content = Annotated[str, Meta(min_length=1, max_length=16 * 1024)]
Title = Annotated[str, Meta(min_length=1, max_length=100)]
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class UserPersona(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Who the user plays in a role-play: `{{user}}` is `name`, and `description` is told to the
    model. One per account (`PUT /users/me/persona`), overridable per conversation."""

    name: Annotated[str, Meta(min_length=1, max_length=80)]
    description: Annotated[str, Meta(max_length=4000)] = ""


class Message(msgspec.Struct, kw_only=True):
    """One message. An assistant message keeps every generated alternative in `swipes`;
    `content` is `swipes[swipe_index]`."""

    id: str
    conversation_id: str
    seq: int
    role: MessageRole
    content: str
    swipes: list[str] = []
    swipe_index: int = 0
    status: MessageStatus = "done"
    job_id: str | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class Conversation(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    persona_id: str
    persona_name: str
    persona_avatar_media_id: str | None = None
    # The avatar's thumbnail, resolved from media_svc at each answer (never stored).
    persona_avatar_url: str | None = None
    # A title the user gave it (`null`: the UI shows the persona's name).
    title: str | None = None
    # This conversation's own user persona, overriding the account's (`null`: the account's).
    user_persona: UserPersona | None = None
    message_count: int = 0
    last_message: str = ""
    # The job writing the latest reply, while one is running.
    pending_job_id: str | None = None
    created_at: datetime
    last_activity_at: datetime


class ConversationStarted(msgspec.Struct, kw_only=True):
    """`POST /personas/{persona_id}/conversations` → the conversation and its greeting."""

    conversation: Conversation
    messages: list[Message]


class MessageCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    content: Content


class ConversationPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Rename a conversation and/or set its own user persona; `null` clears either."""

    title: Title | None | UnsetType = UNSET
    user_persona: UserPersona | None | UnsetType = UNSET


class ConversationListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`GET /conversations`: `persona_id` keeps the conversations with that persona only."""

    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Annotated[str, Meta(max_length=512)] | None = None
    persona_id: Annotated[str, Meta(pattern=UUID_PATTERN)] | None = None


class MessageDeleteQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`DELETE …/messages/{id}?with_reply=true` also deletes the reply that answered a user's
    message (the message right after it, when that is the persona's)."""

    with_reply: bool = False


class MessagePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Edit a message's text (the shown swipe of a reply), or pick another swipe of a reply."""

    content: Content | UnsetType = UNSET
    swipe_index: Annotated[int, Meta(ge=0)] | UnsetType = UNSET


class ChatTurn(msgspec.Struct, kw_only=True):
    """`202` for a message or a regeneration: the job writing `reply_message_id`."""

    job_id: str
    message_id: str | None
    reply_message_id: str


class CancelAccepted(msgspec.Struct, kw_only=True):
    job_id: str
    # True when a worker was running the job and stops it (its partial text is kept);
    # False when no worker had it, so the reply was cancelled here at once.
    stopping: bool
