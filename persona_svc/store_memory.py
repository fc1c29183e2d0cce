"""The in-memory store (no DATABASE_URL): dictionaries, one process, lost at restart.

Every method runs without awaiting in the middle, so each is atomic on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import msgspec
from msgspec import UnsetType

from chassis.clock import utcnow
from persona_svc.pagination import ActivityKey, NewKey, ReportKey, SeqKey, TopKey, TrendKey
from persona_svc.store import (
    CHAT_WEIGHT,
    LIKE_WEIGHT,
    Busy,
    Generation,
    ListFilter,
    MessageBusy,
    Trending,
    Typed,
    UserCounts,
    check_regenerable,
    edited,
    event_points,
    finished,
    new_turn,
    regenerated,
    reply_to,
    search_text,
    summary,
)
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

T = TypeVar("T")
replace = msgspec.structs.replace


def _toggle(table: dict[tuple[str, str], datetime], key: tuple[str, str], on: bool) -> bool:
    """Add (stamped now) or remove `key`; whether that changed anything."""
    changed = (key in table) != on
    if changed and on:
        table[key] = utcnow()
    elif changed:
        del table[key]
    return changed


class MemoryStore:
    def __init__(self) -> None:
        self.personas: dict[str, Persona] = {}
        self.deleted: set[str] = set()
        self.last_reported: dict[str, datetime] = {}
        self.likes: dict[tuple[str, str], datetime] = {}
        self.follows: dict[tuple[str, str], datetime] = {}
        self.reports: dict[tuple[str, str], Report] = {}
        self.drafts: dict[str, tuple[str, DraftView]] = {}
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, dict[str, Message]] = {}
        self.last_seq: dict[str, int] = {}
        self.generations: dict[str, Generation] = {}
        self.user_personas: dict[str, UserPersona] = {}
        self.content_settings: dict[str, ContentSettings] = {}

    # Personas

    def _view(self, persona: Persona, viewer_id: str | None) -> Persona:
        liked = viewer_id is not None and (persona.id, viewer_id) in self.likes
        return replace(persona, liked_by_me=liked)

    def _alive(self, persona_id: str) -> Persona | None:
        p = self.personas.get(persona_id)
        if p is None or persona_id in self.deleted or p.moderation == "removed":
            return None
        return p

    async def create_persona(self, persona: Persona) -> Persona:
        self.personas[persona.id] = persona
        return persona

    async def create_persona_if_absent(self, persona: Persona) -> bool:
        if persona.id in self.personas:
            return False
        self.personas[persona.id] = persona
        return True

    async def existing_persona_ids(self, persona_ids: Sequence[str]) -> set[str]:
        return {pid for pid in persona_ids if pid in self.personas}

    async def get_persona(self, persona_id: str, viewer_id: str | None = None) -> Persona | None:
        p = self._alive(persona_id)
        return None if p is None else self._view(p, viewer_id)

    async def update_persona(self, persona_id: str, changes: dict[str, Any]) -> Persona | None:
        p = self._alive(persona_id)
        if p is None:
            return None
        p = replace(p, **changes, updated_at=utcnow())
        self.personas[persona_id] = p
        return p

    async def delete_persona(self, persona_id: str) -> bool:
        if self._alive(persona_id) is None:
            return False
        self.deleted.add(persona_id)
        return True

    def _listed(self, f: ListFilter) -> Iterable[Persona]:
        followees = {b for (a, b) in self.follows if a == f.followed_by} if f.followed_by else None
        pattern = f.q.lower() if f.q else None
        tag = f.tag.lower() if f.tag else None
        for p in self.personas.values():
            if p.id in self.deleted or p.moderation == "removed":
                continue
            if f.own:
                if p.owner_id != f.creator_id:
                    continue
            else:
                if p.visibility != "public" or p.moderation != "visible":
                    continue
                if p.nsfw and not f.include_nsfw and (f.viewer_id is None or p.owner_id != f.viewer_id):
                    continue
                if f.creator_id is not None and p.owner_id != f.creator_id:
                    continue
            if followees is not None and p.owner_id not in followees:
                continue
            if tag is not None and tag not in (t.lower() for t in p.tags):
                continue
            if pattern is not None and pattern not in search_text(p.name, p.tagline, p.tags):
                continue
            yield p

    def _page(
        self,
        rows: Iterable[tuple[Persona, T]],
        sort_key: Callable[[T], Any],
        after: T | None,
        limit: int,
        viewer_id: str | None,
    ) -> list[tuple[PersonaSummary, T]]:
        ordered = sorted(rows, key=lambda r: sort_key(r[1]), reverse=True)
        if after is not None:
            bound = sort_key(after)
            ordered = [r for r in ordered if sort_key(r[1]) < bound]
        return [(summary(self._view(p, viewer_id)), k) for p, k in ordered[:limit]]

    async def list_new(
        self, f: ListFilter, limit: int, after: NewKey | None
    ) -> list[tuple[PersonaSummary, NewKey]]:
        rows = ((p, NewKey(p.created_at, p.id)) for p in self._listed(f))
        return self._page(rows, lambda k: (k.created_at, k.id), after, limit, f.viewer_id)

    async def list_top(
        self, f: ListFilter, limit: int, after: TopKey | None
    ) -> list[tuple[PersonaSummary, TopKey]]:
        rows = ((p, TopKey(p.like_count, p.id)) for p in self._listed(f))
        return self._page(rows, lambda k: (k.like_count, k.id), after, limit, f.viewer_id)

    async def list_trending(
        self, f: ListFilter, limit: int, trending: Trending, after: TrendKey | None
    ) -> list[tuple[PersonaSummary, TrendKey]]:
        scores: dict[str, int] = {}

        def add(persona_id: str, weight: float, at: datetime) -> None:
            if trending.since < at <= trending.as_of:
                points = event_points(weight, at, trending.as_of, trending.half_life)
                scores[persona_id] = scores.get(persona_id, 0) + points

        for (persona_id, _), at in self.likes.items():
            add(persona_id, LIKE_WEIGHT, at)
        for c in self.conversations.values():
            add(c.persona_id, CHAT_WEIGHT, c.created_at)
        rows = (
            (p, TrendKey(trending.as_of, scores.get(p.id, 0), p.id))
            for p in self._listed(f)
            if p.created_at <= trending.as_of
        )
        return self._page(rows, lambda k: (k.score, k.id), after, limit, f.viewer_id)

    # Likes, follows, profiles

    async def set_like(self, persona_id: str, user_id: str, liked: bool) -> tuple[bool, int]:
        p = self.personas[persona_id]
        changed = _toggle(self.likes, (persona_id, user_id), liked)
        count = sum(1 for (pid, _) in self.likes if pid == persona_id)
        self.personas[persona_id] = replace(p, like_count=count)
        return changed, count

    async def set_follow(self, follower_id: str, followee_id: str, following: bool) -> tuple[bool, int]:
        changed = _toggle(self.follows, (follower_id, followee_id), following)
        return changed, sum(1 for (_, b) in self.follows if b == followee_id)

    async def user_counts(
        self, user_id: str, viewer_id: str | None, include_nsfw: bool = False
    ) -> UserCounts:
        shown = ListFilter(creator_id=user_id, include_nsfw=include_nsfw, viewer_id=viewer_id)
        public = sum(1 for _ in self._listed(shown))
        return UserCounts(
            public_personas=public,
            followers=sum(1 for (_, b) in self.follows if b == user_id),
            following=sum(1 for (a, _) in self.follows if a == user_id),
            followed_by_me=viewer_id is not None and (viewer_id, user_id) in self.follows,
        )

    # Reports

    def _open_reports(self, persona_id: str) -> list[Report]:
        found = [r for (pid, _), r in self.reports.items() if pid == persona_id and r.reviewed_at is None]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    async def add_report(self, report: Report, threshold: int) -> tuple[bool, ReportState]:
        key = (report.persona_id, report.reporter_id)
        existing = self.reports.get(key)
        created = existing is None or existing.reviewed_at is not None
        if created:
            self.reports[key] = report
            self.last_reported[report.persona_id] = report.created_at
        p = self.personas[report.persona_id]
        count = len(self._open_reports(p.id))
        if count >= threshold and p.moderation == "visible":
            p = replace(p, moderation="hidden")
            self.personas[p.id] = p
        return created, ReportState(persona_id=p.id, open_reports=count, moderation=p.moderation)

    async def moderation_queue(
        self, hidden_only: bool, limit: int, after: ReportKey | None
    ) -> list[tuple[ReportedPersona, ReportKey]]:
        rows = []
        for persona_id, at in self.last_reported.items():
            p = self._alive(persona_id)
            reports = self._open_reports(persona_id)
            if p is None or not reports or (hidden_only and p.moderation != "hidden"):
                continue
            key = ReportKey(at, persona_id)
            if after is not None and (key.last_reported_at, key.id) >= (after.last_reported_at, after.id):
                continue
            rows.append((ReportedPersona(persona=p, open_reports=len(reports), reports=reports), key))
        rows.sort(key=lambda r: (r[1].last_reported_at, r[1].id), reverse=True)
        return rows[:limit]

    async def review(self, persona_id: str, action: Literal["restore", "remove"]) -> Persona | None:
        p = self.personas.get(persona_id)
        if p is None or persona_id in self.deleted:
            return None
        now = utcnow()
        for key, r in self.reports.items():
            if r.persona_id == persona_id and r.reviewed_at is None:
                self.reports[key] = replace(r, reviewed_at=now)
        p = replace(p, moderation="visible" if action == "restore" else "removed", updated_at=now)
        self.personas[persona_id] = p
        return p

    # Drafts

    async def create_draft(self, job_id: str, user_id: str, idea: str) -> DraftView:
        view = DraftView(job_id=job_id, status="pending", idea=idea, created_at=utcnow())
        self.drafts[job_id] = (user_id, view)
        return view

    async def finish_draft(self, result: DraftResult) -> bool:
        found = self.drafts.get(result.job_id)
        if found is None or found[1].status != "pending":
            return False
        user_id, view = found
        view = replace(
            view, status=result.status, draft=result.draft, error=result.error, completed_at=utcnow()
        )
        self.drafts[result.job_id] = (user_id, view)
        return True

    async def get_draft(self, job_id: str) -> tuple[str, DraftView] | None:
        return self.drafts.get(job_id)

    # Conversations

    def _conversation(self, c: Conversation) -> Conversation:
        p = self.personas.get(c.persona_id)
        messages = self.messages.get(c.id, {})
        last = max(messages.values(), key=lambda m: m.seq, default=None)
        return replace(
            c,
            persona_name=p.name if p is not None else c.persona_name,
            persona_avatar_media_id=p.avatar_media_id if p is not None else c.persona_avatar_media_id,
            message_count=len(messages),
            last_message=last.content[:200] if last is not None else "",
        )

    async def create_conversation(self, conversation: Conversation, greeting: Message | None) -> None:
        self.conversations[conversation.id] = conversation
        self.messages[conversation.id] = {greeting.id: greeting} if greeting is not None else {}
        self.last_seq[conversation.id] = greeting.seq if greeting is not None else 0
        p = self.personas[conversation.persona_id]
        self.personas[p.id] = replace(p, chat_count=p.chat_count + 1)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        c = self.conversations.get(conversation_id)
        return None if c is None else self._conversation(c)

    async def list_conversations(
        self, user_id: str, limit: int, after: ActivityKey | None, persona_id: str | None = None
    ) -> list[tuple[Conversation, ActivityKey]]:
        rows = [
            (c, ActivityKey(c.last_activity_at, c.id))
            for c in self.conversations.values()
            if c.user_id == user_id and (persona_id is None or c.persona_id == persona_id)
        ]
        if after is not None:
            bound = (after.last_activity_at, after.id)
            rows = [r for r in rows if (r[1].last_activity_at, r[1].id) < bound]
        rows.sort(key=lambda r: (r[1].last_activity_at, r[1].id), reverse=True)
        return [(self._conversation(c), k) for c, k in rows[:limit]]

    async def update_conversation(
        self,
        conversation_id: str,
        title: str | None | UnsetType,
        user_persona: UserPersona | None | UnsetType,
    ) -> bool:
        c = self.conversations.get(conversation_id)
        if c is None:
            return False
        if not isinstance(title, UnsetType):
            c = replace(c, title=title)
        if not isinstance(user_persona, UnsetType):
            c = replace(c, user_persona=user_persona)
        self.conversations[conversation_id] = c
        return True

    async def delete_conversation(self, conversation_id: str) -> bool:
        if self.conversations.pop(conversation_id, None) is None:
            return False
        self.messages.pop(conversation_id, None)
        for job_id in [j for j, g in self.generations.items() if g.conversation_id == conversation_id]:
            del self.generations[job_id]
        return True

    async def list_messages(
        self, conversation_id: str, limit: int, after: SeqKey | None
    ) -> list[tuple[Message, SeqKey]]:
        found = sorted(self.messages.get(conversation_id, {}).values(), key=lambda m: m.seq, reverse=True)
        if after is not None:
            found = [m for m in found if m.seq < after.seq]
        return [(m, SeqKey(m.seq)) for m in found[:limit]]

    async def history(self, conversation_id: str, limit: int, before_seq: int | None = None) -> list[Message]:
        found = sorted(self.messages.get(conversation_id, {}).values(), key=lambda m: m.seq)
        if before_seq is not None:
            found = [m for m in found if m.seq < before_seq]
        return found[-limit:] if limit else []

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None:
        return self.messages.get(conversation_id, {}).get(message_id)

    def _touch(self, conversation_id: str, job_id: str | None, now: datetime) -> None:
        c = self.conversations[conversation_id]
        self.conversations[conversation_id] = replace(c, pending_job_id=job_id, last_activity_at=now)

    async def start_reply(
        self, conversation_id: str, generation: Generation, typed: Typed | None
    ) -> tuple[Message | None, Message]:
        c = self.conversations[conversation_id]
        if c.pending_job_id is not None:
            raise Busy(c.pending_job_id)
        now = utcnow()
        seq = self.last_seq[conversation_id] + (1 if typed is None else 2)
        user, reply = new_turn(conversation_id, generation, typed, seq, now)
        messages = self.messages[conversation_id]
        if user is not None:
            messages[user.id] = user
        messages[reply.id] = reply
        self.last_seq[conversation_id] = seq
        self.generations[generation.job_id] = replace(generation, swipe_index=0, created_at=now)
        self._touch(conversation_id, generation.job_id, now)
        return user, reply

    async def start_regenerate(self, conversation_id: str, generation: Generation) -> Message:
        c = self.conversations[conversation_id]
        if c.pending_job_id is not None:
            raise Busy(c.pending_job_id)
        messages = self.messages[conversation_id]
        last = check_regenerable(max(messages.values(), key=lambda m: m.seq, default=None), generation)
        now = utcnow()
        reply = regenerated(last, generation.job_id, now)
        messages[reply.id] = reply
        self.generations[generation.job_id] = replace(
            generation, swipe_index=reply.swipe_index, created_at=now
        )
        self._touch(conversation_id, generation.job_id, now)
        return reply

    async def get_generation(self, job_id: str) -> Generation | None:
        return self.generations.get(job_id)

    async def finish_generation(
        self, job_id: str, status: Literal["done", "cancelled", "failed"], text: str, error: str | None
    ) -> Message | None:
        g = self.generations.get(job_id)
        if g is None or g.status != "pending":
            return None
        self.generations[job_id] = replace(g, status=status)
        now = utcnow()
        c = self.conversations.get(g.conversation_id)
        if c is not None and c.pending_job_id == job_id:
            self.conversations[c.id] = replace(c, pending_job_id=None, last_activity_at=now)
        m = self.messages.get(g.conversation_id, {}).get(g.message_id)
        if m is None:
            return None
        updated = finished(m, g, status, text, error, now)
        if updated is not None:
            self.messages[g.conversation_id][m.id] = updated
        return updated

    async def edit_message(
        self, conversation_id: str, message_id: str, content: str | None, swipe_index: int | None
    ) -> Message | None:
        m = self.messages.get(conversation_id, {}).get(message_id)
        if m is None:
            return None
        m = edited(m, content, swipe_index, utcnow())
        self.messages[conversation_id][message_id] = m
        return m

    async def delete_message(self, conversation_id: str, message_id: str, with_reply: bool = False) -> bool:
        messages = self.messages.get(conversation_id, {})
        m = messages.get(message_id)
        if m is None:
            return False
        following = min((x for x in messages.values() if x.seq > m.seq), key=lambda x: x.seq, default=None)
        reply = reply_to(m, following) if with_reply else None
        if m.status == "pending" or (reply is not None and reply.status == "pending"):
            raise MessageBusy(message_id)
        del messages[message_id]
        if reply is not None:
            del messages[reply.id]
        return True

    # User personas

    async def get_user_persona(self, user_id: str) -> UserPersona | None:
        return self.user_personas.get(user_id)

    async def set_user_persona(self, user_id: str, persona: UserPersona | None) -> None:
        if persona is None:
            self.user_personas.pop(user_id, None)
        else:
            self.user_personas[user_id] = persona

    # Content settings

    async def get_content_settings(self, user_id: str) -> ContentSettings:
        return self.content_settings.get(user_id) or ContentSettings()

    async def set_content_settings(self, user_id: str, settings: ContentSettings) -> None:
        self.content_settings[user_id] = settings
