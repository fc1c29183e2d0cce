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
