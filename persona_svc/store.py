"""The persona store protocol: what service.py needs from storage, in memory or PostgreSQL.

Both implementations pass the same contract suite (`tests/persona_svc/test_store_contract.py`).
Listings return at most `limit` summaries strictly after the given keyset key, each with its
own key; "after" always means "further down the list" in that listing's order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec
from msgspec import UnsetType

# Re-exported: persona_svc.chat imports it from here.
from persona_svc.pagination import ActivityKey, NewKey, ReportKey, SeqKey, TopKey, TrendKey
from proto.conversations import Conversation, Message, UserPersona
from proto.personas import (
    ContentSettings,
    DraftResult,
    DraftView,
    Persona,
    PersonaSummary,
    Report,
    ReportedPersona,
    ReportState,
)

# Trending weights: a new chat says more about a persona than a like does.
LIKE_WEIGHT = 1.0
CHAT_WEIGHT = 2.0
# Scores are integers (micro-points) so every page computes exactly the same values.
SCORE_SCALE = 1_000_000


def search_text(name: str, tagline: str, tags: list[str]) -> str:
    """What `q` is matched against (case-insensitive substring): name, tagline and tags."""
    return "\n".join([name, tagline, *tags]).lower()


def like_pattern(q: str) -> str:
    """`%q%` for LIKE with q lower-cased and its wildcards escaped (backslash is the default escape)."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def summary(p: Persona) -> PersonaSummary:
    """What a listing shows of `p` (the stores' listings answer these)."""
    return msgspec.convert(p, PersonaSummary, from_attributes=True)


def event_points(weight: float, at: datetime, as_of: datetime, half_life: float) -> int:
    """One like or chat's contribution to a trending score at `as_of`."""
    age = (as_of - at).total_seconds()
    return math.floor(SCORE_SCALE * weight * math.pow(0.5, age / half_life))


@dataclass(frozen=True)
class ListFilter:
    """Which personas a listing shows. Listed = public, not hidden by reports, not deleted;
    `own` (the caller lists their own) also shows private, unlisted and hidden ones. NSFW ones
    only with `include_nsfw`, except the viewer's own, which the viewer always sees."""

    viewer_id: str | None = None
    tag: str | None = None
    q: str | None = None
    creator_id: str | None = None
    include_nsfw: bool = False
    own: bool = False
    # Feed: only personas of creators this user follows.
    followed_by: str | None = None


@dataclass(frozen=True)
class Trending:
    as_of: datetime
    since: datetime
    half_life: float


@dataclass(frozen=True)
class UserCounts:
    public_personas: int
    followers: int
    following: int
    followed_by_me: bool


class Generation(msgspec.Struct, kw_only=True):
    """One job writing one swipe of one reply; its status moves from pending exactly once."""

    job_id: str
    conversation_id: str
    message_id: str
    user_id: str
    swipe_index: int
    status: Literal["pending", "done", "cancelled", "failed"] = "pending"
    created_at: datetime


class Busy(Exception):
    """The conversation already has a reply being written."""


class NotRegenerable(Exception):
    """Regenerate needs the conversation's latest message to be a generated reply."""


class MessageBusy(Exception):
    """The message is being written by a job and cannot be edited or deleted now."""


class BadSwipe(Exception):
    """The swipe index does not exist on that message."""


class Store(Protocol):
    # Personas
    async def create_persona(self, persona: Persona) -> Persona: ...

    async def create_persona_if_absent(self, persona: Persona) -> bool:
        """Insert unless a persona ever had this id (deleted and removed ones too); True when
        inserted. Seeding under fixed ids relies on it: replicas racing create one row."""
        ...

    async def existing_persona_ids(self, persona_ids: Sequence[str]) -> set[str]:
        """Which of `persona_ids` a persona ever had (deleted and removed ones too)."""
        ...

    async def get_persona(self, persona_id: str, viewer_id: str | None = None) -> Persona | None:
        """The persona unless deleted or removed; `liked_by_me` for `viewer_id`."""
        ...

    async def update_persona(self, persona_id: str, changes: dict[str, Any]) -> Persona | None: ...

    async def delete_persona(self, persona_id: str) -> bool: ...

    async def list_new(
        self, f: ListFilter, limit: int, after: NewKey | None
    ) -> list[tuple[PersonaSummary, NewKey]]: ...

    async def list_top(
        self, f: ListFilter, limit: int, after: TopKey | None
    ) -> list[tuple[PersonaSummary, TopKey]]: ...

    async def list_trending(
        self, f: ListFilter, limit: int, trending: Trending, after: TrendKey | None
    ) -> list[tuple[PersonaSummary, TrendKey]]:
        """Score = Σ LIKE_WEIGHT·½^(age/half_life) over likes + the same with CHAT_WEIGHT over
        conversations started, for events in (since, as_of]; personas created after as_of
        are left out, so every page of one listing ranks the same set the same way."""
        ...

    # Likes, follows, profiles
    async def set_like(self, persona_id: str, user_id: str, liked: bool) -> tuple[bool, int]:
        """(whether anything changed, the like count after), counted in the same transaction."""
        ...

    async def set_follow(self, follower_id: str, followee_id: str, following: bool) -> tuple[bool, int]:
        """(whether anything changed, the followee's follower count after)."""
        ...

    async def user_counts(
        self, user_id: str, viewer_id: str | None, include_nsfw: bool = False
    ) -> UserCounts:
        """`public_personas` counts what the viewer's listing of this creator shows: NSFW ones
        only with `include_nsfw` or to the creator themself."""
        ...

    # Reports
    async def add_report(self, report: Report, threshold: int) -> tuple[bool, ReportState]:
        """Store the report (one open report per user and persona); hide the persona once
        `threshold` distinct users have open reports. (created, state after)."""
        ...

    async def moderation_queue(
        self, hidden_only: bool, limit: int, after: ReportKey | None
    ) -> list[tuple[ReportedPersona, ReportKey]]: ...

    async def review(self, persona_id: str, action: Literal["restore", "remove"]) -> Persona | None:
        """Close the open reports; restore makes the persona visible again, remove takes it down."""
        ...

    # Drafts
    async def create_draft(self, job_id: str, user_id: str, idea: str) -> DraftView: ...

    async def finish_draft(self, result: DraftResult) -> bool:
        """Record the result once; False when the draft is unknown or already finished."""
        ...

    async def get_draft(self, job_id: str) -> tuple[str, DraftView] | None:
        """(owner id, draft)."""
        ...

    # Conversations
    async def create_conversation(self, conversation: Conversation, greeting: Message | None) -> None:
        """Store the conversation and its greeting (seq 1); counts a chat for the persona."""
        ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def list_conversations(
        self, user_id: str, limit: int, after: ActivityKey | None, persona_id: str | None = None
    ) -> list[tuple[Conversation, ActivityKey]]:
        """The user's conversations (with `persona_id` only, when given), latest activity first."""
        ...

    async def update_conversation(
        self,
        conversation_id: str,
        title: str | None | UnsetType,
        user_persona: UserPersona | None | UnsetType,
    ) -> bool:
        """Set (or clear, with None) what is given; UNSET leaves it. False when unknown."""
        ...

    async def delete_conversation(self, conversation_id: str) -> bool: ...

    async def list_messages(
        self, conversation_id: str, limit: int, after: SeqKey | None
    ) -> list[tuple[Message, SeqKey]]:
        """Newest first."""
        ...

    async def history(self, conversation_id: str, limit: int, before_seq: int | None = None) -> list[Message]:
        """The latest `limit` messages (before `before_seq` when given), oldest first."""
        ...

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None: ...

    async def start_reply(
        self, conversation_id: str, generation: Generation, typed: Typed | None
    ) -> tuple[Message | None, Message]:
        """Add the user's message `typed` (when given) and a pending reply `generation.message_id`
        written by `generation.job_id`; raises Busy when a reply is already pending."""
        ...

    async def start_regenerate(self, conversation_id: str, generation: Generation) -> Message:
        """Open a new swipe on the latest message (a generated reply) for `generation.job_id`;
        an empty current swipe (failed or cancelled before any text) is reused. Busy, NotRegenerable."""
        ...

    async def get_generation(self, job_id: str) -> Generation | None: ...

    async def finish_generation(
        self, job_id: str, status: Literal["done", "cancelled", "failed"], text: str, error: str | None
    ) -> Message | None:
        """Write the job's text into its swipe exactly once; None when unknown or already finished."""
        ...

    async def edit_message(
        self, conversation_id: str, message_id: str, content: str | None, swipe_index: int | None
    ) -> Message | None:
        """MessageBusy while pending; BadSwipe for an index that does not exist."""
        ...

    async def delete_message(self, conversation_id: str, message_id: str, with_reply: bool = False) -> bool:
        """MessageBusy while pending. `with_reply`: a user's message goes with the reply that
        answered it (`reply_to`), in one transaction; MessageBusy while that reply is pending."""
        ...

    # User personas (who the user plays), one per account
    async def get_user_persona(self, user_id: str) -> UserPersona | None: ...

    async def set_user_persona(self, user_id: str, persona: UserPersona | None) -> None:
        """Store it, or forget it with None."""
        ...

    # Content settings (what the community shows an account), one per account
    async def get_content_settings(self, user_id: str) -> ContentSettings:
        """The account's settings; the defaults (NSFW hidden) when it never set any."""
        ...

    async def set_content_settings(self, user_id: str, settings: ContentSettings) -> None: ...


# Message edits shared by both stores: pure functions of the current row.


def reply_to(message: Message, following: Message | None) -> Message | None:
    """The reply that answered `message`: the next message, when `message` is the user's and
    the next one is the persona's."""
    if message.role != "user" or following is None or following.role != "assistant":
        return None
    return following


def check_regenerable(last: Message | None, generation: Generation) -> Message:
    """The conversation's last message, if it is the finished assistant reply `generation` names."""
    if last is None or last.id != generation.message_id or last.role != "assistant" or last.job_id is None:
        raise NotRegenerable(generation.message_id)
    return last


class Typed(msgspec.Struct, frozen=True):
    """The user's message that a turn starts with: its id and text."""

    message_id: str
    content: str


def new_turn(
    conversation_id: str, generation: Generation, typed: Typed | None, seq: int, now: datetime
) -> tuple[Message | None, Message]:
    """The user's message (when given, at `seq - 1`) and the pending reply at `seq` for `generation`."""
    user = None
    if typed is not None:
        user = Message(
            id=typed.message_id,
            conversation_id=conversation_id,
            seq=seq - 1,
            role="user",
            content=typed.content,
            created_at=now,
            updated_at=now,
        )
    reply = Message(
        id=generation.message_id,
        conversation_id=conversation_id,
        seq=seq,
        role="assistant",
        content="",
        swipes=[""],
        swipe_index=0,
        status="pending",
        job_id=generation.job_id,
        created_at=now,
        updated_at=now,
    )
    return user, reply


def regenerated(last: Message, job_id: str, now: datetime) -> Message:
    """`last` with a new pending swipe for `job_id` (an empty current swipe is reused)."""
    swipes = list(last.swipes) or [last.content]
    if swipes[last.swipe_index]:
        swipes.append("")
        index = len(swipes) - 1
    else:
        index = last.swipe_index
    return msgspec.structs.replace(
        last,
        swipes=swipes,
        swipe_index=index,
        content="",
        status="pending",
        job_id=job_id,
        error=None,
        updated_at=now,
    )


def finished(
    m: Message,
    g: Generation,
    status: Literal["done", "cancelled", "failed"],
    text: str,
    error: str | None,
    now: datetime,
) -> Message | None:
    """`m` with the job's text in its swipe; None when the swipe no longer exists."""
    swipes = list(m.swipes)
    if g.swipe_index >= len(swipes):
        return None
    swipes[g.swipe_index] = text
    return msgspec.structs.replace(
        m,
        swipes=swipes,
        content=swipes[m.swipe_index],
        status=status if m.job_id == g.job_id else m.status,
        error=error if m.job_id == g.job_id else m.error,
        updated_at=now,
    )


def edited(m: Message, content: str | None, swipe_index: int | None, now: datetime) -> Message:
    """`m` with new text (of its shown swipe, for a reply) and/or another swipe shown."""
    if m.status == "pending":
        raise MessageBusy(m.id)
    swipes = list(m.swipes)
    index = m.swipe_index
    if swipe_index is not None:
        if m.role != "assistant" or swipe_index >= len(swipes):
            raise BadSwipe(swipe_index)
        index = swipe_index
    if m.role == "user":
        text = content if content is not None else m.content
    else:
        if content is not None:
            swipes[index] = content
        text = swipes[index]
    changed = content is not None or index != m.swipe_index
    return msgspec.structs.replace(
        m,
        content=text,
        swipes=swipes,
        swipe_index=index,
        status="done" if changed else m.status,
        error=None if changed else m.error,
        updated_at=now,
    )
