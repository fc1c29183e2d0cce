"""Personas and the community around them: visibility, forks, listings, likes, follows,
reports and moderation, AI drafts, and character-card import/export.

Visibility: public personas are listed and readable by anyone; unlisted ones are
readable by id but never listed; private ones exist only for their owner (and admins),
everyone else gets 404. A persona hidden by reports stays readable by id but leaves
every listing until an admin restores or removes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal, TypeVar

import msgspec
import structlog
from nats.js import JetStreamContext

from chassis.binding import validation_error
from chassis.clock import utcnow
from chassis.context import request_id_var
from chassis.errors import Forbidden, NotFound, UnprocessableEntity
from chassis.events import EventPublisher

# Re-exported: persona_svc.chat imports it from here.
from chassis.ids import new_id
from chassis.jobs import submit
from chassis.settings import Settings
from persona_svc import cards, pagination
from persona_svc.media import Media, avatar_urls
from persona_svc.pagination import NewKey, ReportKey, TopKey, TrendKey
from persona_svc.profiles import Profiles
from persona_svc.store import ListFilter, Store, Trending
from proto.cards import CharacterCard, Lorebook
from proto.events import Event
from proto.identity import Identity
from proto.personas import (
    ContentSettings,
    ContentSettingsPatch,
    DraftJob,
    DraftResult,
    DraftView,
    FeedQuery,
    FollowState,
    ForkOrigin,
    ForkRequest,
    GenerateRequest,
    JobAccepted,
    LikeState,
    ModerationQuery,
    Notification,
    Persona,
    PersonaCreate,
    PersonaDraftFailed,
    PersonaDraftReady,
    PersonaListQuery,
    PersonaPatch,
    PersonaPublished,
    PersonaStats,
    PersonaSummary,
    Report,
    ReportCreate,
    ReportedPersona,
    ReportState,
    UserProfile,
    Visibility,
)
from proto.subjects import COMMUNITY_CHANNEL, JOBS_PERSONA_DRAFT, user_channel

log = structlog.get_logger("persona_svc")
K = TypeVar("K")
# What `decorate` fills in: a whole persona (one persona's view) or a listing's summary.
Shown = TypeVar("Shown", Persona, PersonaSummary)


def can_read(p: Persona, identity: Identity | None) -> bool:
    if p.visibility != "private":
        return True
    return identity is not None and (identity.user_id == p.owner_id or identity.is_admin)


def listed(p: Persona) -> bool:
    """Whether every visitor may see `p` in the community: only such personas reach `public:`."""
    return p.visibility == "public" and p.moderation == "visible"


def next_cursor(rows: Sequence[tuple[Any, Any]], limit: int) -> str | None:
    """Rows were fetched with limit + 1: a row beyond the page means there is a next page."""
    if len(rows) <= limit:
        return None
    key = rows[limit - 1][1]
    return pagination.encode(key)


def _tags(tags: list[str]) -> list[str]:
    """Trimmed, without empty or repeated (case-insensitively) tags, first spelling kept."""
    seen: set[str] = set()
    out = []
    for tag in tags:
        tag = tag.strip()
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
    return out


class PersonaService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        js: JetStreamContext,
        events: EventPublisher,
        profiles: Profiles,
        media: Media,
    ) -> None:
        self.store = store
        self.settings = settings
        self.js = js
        self.events = events
        self.profiles = profiles
        self.media = media

    # Reading

    async def readable(self, persona_id: str, identity: Identity | None) -> Persona:
        p = await self.store.get_persona(persona_id, identity.user_id if identity else None)
        if p is None or not can_read(p, identity):
            raise NotFound("no such persona", details={"persona_id": persona_id})
        return p

    async def owned(self, persona_id: str, identity: Identity) -> Persona:
        p = await self.readable(persona_id, identity)
        if p.owner_id != identity.user_id:
            raise Forbidden("only the persona's owner can do this")
        return p

    async def decorate(self, personas: list[Shown], identity: Identity | None) -> list[Shown]:
        """Owner names (auth_svc) and avatar URLs (media_svc, as the caller sees them), each looked
        up once for the whole page; both best effort."""
        names, media = await asyncio.gather(
            self.profiles.names({p.owner_id for p in personas}, identity),
            self.media.lookup(identity, [p.avatar_media_id for p in personas if p.avatar_media_id]),
        )
        shown = []
        for p in personas:
            urls = avatar_urls(media.get(p.avatar_media_id)) if p.avatar_media_id else None
            shown.append(
                msgspec.structs.replace(
                    p,
                    owner_name=names.get(p.owner_id),
                    avatar_url=urls.thumbnail if urls else None,
                    avatar_urls=urls,
                )
            )
        return shown

    async def get(self, persona_id: str, identity: Identity | None) -> Persona:
        p = (await self.decorate([await self.readable(persona_id, identity)], identity))[0]
        if p.forked_from is None:
            return p
        return msgspec.structs.replace(p, fork_origin=await self.fork_origin(p.forked_from, identity))

    async def fork_origin(self, source_id: str, identity: Identity | None) -> ForkOrigin:
        """The credit a fork's page shows: the original (named when the caller may read it) and its
        creator (always, by id; the name best effort). A deleted original credits no one by name."""
        source = await self.store.get_persona(source_id)
        if source is None:
            return ForkOrigin(persona_id=source_id)
        readable = can_read(source, identity)
        names = await self.profiles.names({source.owner_id}, identity)
        return ForkOrigin(
            persona_id=source.id,
            persona_name=source.name if readable else None,
            owner_id=source.owner_id,
            owner_name=names.get(source.owner_id),
        )

    # Writing

    def _checked(self, fields: dict[str, Any]) -> dict[str, Any]:
        if "name" in fields:
            fields["name"] = fields["name"].strip()
            if not fields["name"]:
                raise UnprocessableEntity("name must not be blank", field="name")
        if "tags" in fields:
            fields["tags"] = _tags(fields["tags"])
        if fields.get("character_book") is not None:
            try:
                msgspec.convert(fields["character_book"], Lorebook)
            except msgspec.ValidationError as exc:
                raise validation_error(exc, "character_book") from None
        try:
            cards.check_structured(
                fields.get("character_book"), fields.get("extensions", {}), fields.get("card_extras", {})
            )
        except cards.CardError as exc:
            raise UnprocessableEntity(exc.message, field=exc.field) from None
        return fields

    async def _avatar(self, identity: Identity, media_id: str, *, shared: bool, chosen: bool) -> None:
        """Check an avatar and, for a persona others can see, make it public (as its owner).

        `chosen`: this request names the avatar, so it must be the caller's own image (422
        otherwise). Else (a persona becoming shared, a fork's inherited avatar) an avatar that is
        gone or someone else's is left as it is: the persona shows none, or the other's public one.
        """
        if not (chosen or shared):
            return
        item = await self.media.item(identity, media_id)
        if item is None or item.owner_id != identity.user_id:
            if chosen:
                raise UnprocessableEntity(
                    "avatar_media_id is not one of your media items", field="avatar_media_id"
                )
            return
        if chosen and item.kind != "image":
            raise UnprocessableEntity("the avatar must be an image", field="avatar_media_id")
        if chosen and item.status == "failed":
            raise UnprocessableEntity(
                f"that image could not be processed: {item.error or 'failed'}", field="avatar_media_id"
            )
        if shared and item.visibility != "public":
            await self.media.publish(identity, media_id)

    async def create(
        self,
        identity: Identity,
        body: PersonaCreate,
        *,
        forked_from: str | None = None,
        avatar: Literal["chosen", "inherited", "uploaded"] = "chosen",
    ) -> Persona:
        fields = self._checked(msgspec.structs.asdict(body))
        if body.avatar_media_id is not None and avatar != "uploaded":
            await self._avatar(
                identity,
                body.avatar_media_id,
                shared=body.visibility != "private",
                chosen=avatar == "chosen",
            )
        now = utcnow()
        persona = Persona(
            id=new_id(),
            owner_id=identity.user_id,
            forked_from=forked_from,
            created_at=now,
            updated_at=now,
            **fields,
        )
        created = await self.store.create_persona(persona)
        if listed(created):
            await self._community(
                PersonaPublished(persona_id=created.id, name=created.name, nsfw=created.nsfw)
            )
        return (await self.decorate([created], identity))[0]

    async def create_under_id(self, owner_id: str, persona_id: str, body: PersonaCreate) -> bool:
        """Create `body` as `owner_id`'s under a fixed id unless a persona ever had that id (a
        deleted one too); True when created. The starters use it, so replicas starting together
        and restarts create each one once. The avatar is the caller's upload: not checked."""
        fields = self._checked(msgspec.structs.asdict(body))
        now = utcnow()
        persona = Persona(id=persona_id, owner_id=owner_id, created_at=now, updated_at=now, **fields)
        return await self.store.create_persona_if_absent(persona)

    async def update(self, identity: Identity, persona_id: str, patch: PersonaPatch) -> Persona:
        current = await self.owned(persona_id, identity)
        changes = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not msgspec.UNSET}
        changes = self._checked(changes)
        avatar = changes.get("avatar_media_id", current.avatar_media_id)
        visibility = changes.get("visibility", current.visibility)
        chosen = "avatar_media_id" in changes and avatar != current.avatar_media_id
        if avatar is not None and (chosen or "visibility" in changes):
            await self._avatar(identity, avatar, shared=visibility != "private", chosen=chosen)
        updated = await self.store.update_persona(persona_id, changes)
        if updated is None:
            raise NotFound("no such persona", details={"persona_id": persona_id})
        if listed(updated) and not listed(current):
            await self._community(
                PersonaPublished(persona_id=updated.id, name=updated.name, nsfw=updated.nsfw)
            )
        return await self.get(persona_id, identity)

    async def delete(self, identity: Identity, persona_id: str) -> None:
        await self.owned(persona_id, identity)
        await self.store.delete_persona(persona_id)

    async def fork(self, identity: Identity, persona_id: str, body: ForkRequest) -> Persona:
        source = await self.readable(persona_id, identity)
        if source.owner_id != identity.user_id and source.visibility != "public":
            raise Forbidden("only public personas (or your own) can be forked")
        copied = {f: getattr(source, f) for f in PersonaCreate.__struct_fields__ if f != "visibility"}
        copy = await self.create(
            identity,
            PersonaCreate(visibility=body.visibility, **copied),
            forked_from=source.id,
            avatar="inherited",
        )
        if source.owner_id != identity.user_id:
            notice = Notification(
                kind="fork",
                actor_id=identity.user_id,
                persona_id=source.id,
                persona_name=source.name,
                # A private copy is nobody's business but its owner's: only a shared one is linked.
                fork_id=copy.id if copy.visibility != "private" else None,
            )
            await self._notify(source.owner_id, notice, identity)
        return msgspec.structs.replace(copy, fork_origin=await self.fork_origin(source.id, identity))

    # Content settings

    async def content_settings(self, identity: Identity) -> ContentSettings:
        return await self.store.get_content_settings(identity.user_id)

    async def set_content_settings(self, identity: Identity, body: ContentSettingsPatch) -> ContentSettings:
        current = await self.store.get_content_settings(identity.user_id)
        if body.show_nsfw and not body.confirm_adult:
            raise UnprocessableEntity(
                "Confirm that you are 18 or older to see adult content.", field="confirm_adult"
            )
        confirmed = utcnow() if body.show_nsfw else current.adult_confirmed_at
        settings = ContentSettings(show_nsfw=body.show_nsfw, adult_confirmed_at=confirmed)
        await self.store.set_content_settings(identity.user_id, settings)
        return settings

    async def _include_nsfw(self, identity: Identity | None, asked: bool | None) -> bool:
        """Whether a listing shows others' NSFW personas: the caller's setting (off for visitors),
        narrowed by `include_nsfw=false`; `include_nsfw=true` without the setting is refused, so
        no client can list adult personas for someone who has not opted in."""
        if asked is False:
            return False
        opted = identity is not None and (await self.store.get_content_settings(identity.user_id)).show_nsfw
        if asked and not opted:
            raise Forbidden(
                "Adult content is off for this account: turn it on in your content settings first.",
                code="nsfw_not_enabled",
                details={"field": "query.include_nsfw"},
            )
        return opted

    # Listings

    async def listing(
        self, identity: Identity | None, query: PersonaListQuery
    ) -> tuple[list[PersonaSummary], str | None]:
        viewer = identity.user_id if identity else None
        q = query.q.strip().replace("\n", " ") if query.q else None
        f = ListFilter(
            viewer_id=viewer,
            tag=query.tag.strip() if query.tag else None,
            q=q or None,
            creator_id=query.creator_id,
            include_nsfw=await self._include_nsfw(identity, query.include_nsfw),
            own=viewer is not None and query.creator_id == viewer,
        )
        n = query.limit + 1
        rows: Sequence[tuple[PersonaSummary, Any]]
        if query.sort == "top":
            rows = await self.store.list_top(f, n, pagination.decode(query.cursor, TopKey))
        elif query.sort == "trending":
            after = pagination.decode(query.cursor, TrendKey)
            as_of = after.as_of if after is not None else utcnow()
            trending = Trending(
                as_of=as_of,
                since=as_of - timedelta(seconds=self.settings.persona_trending_window),
                half_life=self.settings.persona_trending_half_life,
            )
            rows = await self.store.list_trending(f, n, trending, after)
        else:
            rows = await self.store.list_new(f, n, pagination.decode(query.cursor, NewKey))
        personas = await self.decorate([p for p, _ in rows[: query.limit]], identity)
        return personas, next_cursor(rows, query.limit)

    async def feed(self, identity: Identity, query: FeedQuery) -> tuple[list[PersonaSummary], str | None]:
        f = ListFilter(
            viewer_id=identity.user_id,
            followed_by=identity.user_id,
            include_nsfw=await self._include_nsfw(identity, query.include_nsfw),
        )
        rows = await self.store.list_new(f, query.limit + 1, pagination.decode(query.cursor, NewKey))
        personas = await self.decorate([p for p, _ in rows[: query.limit]], identity)
        return personas, next_cursor(rows, query.limit)

    # Likes, follows, profiles

    async def like(self, identity: Identity, persona_id: str, liked: bool) -> LikeState:
        p = await self.readable(persona_id, identity)
        changed, count = await self.store.set_like(p.id, identity.user_id, liked)
        if changed and listed(p):
            await self._community(PersonaStats(persona_id=p.id, like_count=count, chat_count=p.chat_count))
        if changed and liked and p.owner_id != identity.user_id:
            await self._notify(
                p.owner_id,
                Notification(
                    kind="like",
                    actor_id=identity.user_id,
                    persona_id=p.id,
                    persona_name=p.name,
                    like_count=count,
                ),
                identity,
            )
        return LikeState(persona_id=p.id, liked_by_me=liked, like_count=count)

    async def counts_changed(self, persona_id: str) -> None:
        """A public persona's counts changed (a chat started): everyone watching sees the new ones."""
        p = await self.store.get_persona(persona_id, None)
        if p is not None and listed(p):
            await self._community(
                PersonaStats(persona_id=p.id, like_count=p.like_count, chat_count=p.chat_count)
            )

    async def _community(self, event: Event) -> None:
        """Tell everyone watching the community (best effort: the change itself stands)."""
        try:
            await self.events.publish([COMMUNITY_CHANNEL], event)
        except Exception as exc:  # noqa: BLE001 - a lost live update is caught up on the next read
            log.warning("community event not sent", event=type(event).__name__, error=repr(exc))

    async def _notify(self, owner_id: str, event: Notification, identity: Identity) -> None:
        name = await self.profiles.name(identity.user_id, identity)
        try:
            await self.events.publish(
                [user_channel(owner_id)], msgspec.structs.replace(event, actor_name=name)
            )
        except Exception as exc:  # noqa: BLE001 - the like or follow stands even if the ping is lost
            log.warning("notification not sent", owner_id=owner_id, error=repr(exc))

    async def profile(self, user_id: str, identity: Identity | None) -> UserProfile:
        user = await self.profiles.get(user_id, identity)
        if user is None:
            raise NotFound("no such user", details={"user_id": user_id})
        # The count agrees with the list the viewer gets of this creator (NSFW by their setting).
        counts = await self.store.user_counts(
            user_id, identity.user_id if identity else None, await self._include_nsfw(identity, None)
        )
        return UserProfile(
            id=user_id,
            display_name=user.display_name,
            bio=user.bio,
            public_persona_count=counts.public_personas,
            follower_count=counts.followers,
            following_count=counts.following,
            followed_by_me=counts.followed_by_me,
        )

    async def follow(self, identity: Identity, user_id: str, following: bool) -> FollowState:
        if user_id == identity.user_id:
            raise UnprocessableEntity("you cannot follow yourself", field="user_id")
        if following and await self.profiles.get(user_id, identity) is None:
            raise NotFound("no such user", details={"user_id": user_id})
        changed, followers = await self.store.set_follow(identity.user_id, user_id, following)
        if changed and following:
            await self._notify(user_id, Notification(kind="follow", actor_id=identity.user_id), identity)
        return FollowState(user_id=user_id, followed_by_me=following, follower_count=followers)

    # Reports and moderation

    async def report(
        self, identity: Identity, persona_id: str, body: ReportCreate
    ) -> tuple[bool, ReportState]:
        p = await self.readable(persona_id, identity)
        if p.owner_id == identity.user_id:
            raise UnprocessableEntity("you cannot report your own persona", field="persona_id")
        report = Report(
            id=new_id(),
            persona_id=p.id,
            reporter_id=identity.user_id,
            reason=body.reason.strip(),
            created_at=utcnow(),
        )
        return await self.store.add_report(report, self.settings.persona_report_threshold)

    async def moderation_queue(
        self, identity: Identity, query: ModerationQuery
    ) -> tuple[list[ReportedPersona], str | None]:
        rows = await self.store.moderation_queue(
            query.hidden_only, query.limit + 1, pagination.decode(query.cursor, ReportKey)
        )
        page = [r for r, _ in rows[: query.limit]]
        shown = await self.decorate([r.persona for r in page], identity)
        return [msgspec.structs.replace(r, persona=p) for r, p in zip(page, shown, strict=True)], next_cursor(
            rows, query.limit
        )

    async def review(
        self, identity: Identity, persona_id: str, action: Literal["restore", "remove"]
    ) -> Persona:
        p = await self.store.review(persona_id, action)
        if p is None:
            raise NotFound("no such persona", details={"persona_id": persona_id})
        return (await self.decorate([p], identity))[0]

    # AI drafts

    async def generate(self, identity: Identity, body: GenerateRequest) -> JobAccepted:
        job_id = new_id()
        idea = body.idea.strip()
        if len(idea) < 3:
            raise UnprocessableEntity("describe the persona in a few words", field="idea")
        await self.store.create_draft(job_id, identity.user_id, idea)
        job = DraftJob(
            job_id=job_id,
            user_id=identity.user_id,
            request_id=request_id_var.get(),
            idea=idea,
            tags=_tags(body.tags),
            nsfw=body.nsfw,
        )
        failed = DraftResult(
            job_id=job_id, user_id=identity.user_id, status="failed", error="could not queue the job"
        )
        await submit(
            self.js, JOBS_PERSONA_DRAFT, job_id, job, mark_failed=lambda: self.store.finish_draft(failed)
        )
        return JobAccepted(job_id=job_id)

    async def draft(self, identity: Identity, job_id: str) -> DraftView:
        found = await self.store.get_draft(job_id)
        if found is None or found[0] != identity.user_id:
            raise NotFound("no such draft", details={"job_id": job_id})
        return found[1]

    async def on_draft_result(self, result: DraftResult) -> None:
        """Store the draft, then announce it on the requester's channel (again, deduplicated by
        EVENTS, when a redelivery finds it stored: this service stopped before its ack)."""
        if await self.store.finish_draft(result):
            log.info("draft stored", job_id=result.job_id, status=result.status)
        found = await self.store.get_draft(result.job_id)
        if found is None or found[1].status != result.status:
            return  # unknown, or ended another way (not queued, dead letter) and announced there
        owner, view = found
        event: Event
        if view.status == "done" and view.draft is not None:
            event = PersonaDraftReady(job_id=view.job_id, draft=view.draft)
        else:
            event = PersonaDraftFailed(job_id=view.job_id, reason=view.error or "the draft failed")
        await self.events.publish([user_channel(owner)], event, once=view.job_id)

    # Character cards

    async def import_card(self, identity: Identity, body: bytes, visibility: Visibility) -> Persona:
        try:
            imported = cards.read_card(
                body, visibility=visibility, max_bytes=self.settings.persona_card_max_bytes
            )
        except cards.CardError as exc:
            raise UnprocessableEntity(exc.message, field=exc.field) from None
        persona = imported.persona
        if imported.image is not None:
            media_id = await self.media.upload(
                identity, imported.image, "avatar.png", "image/png", public=persona.visibility != "private"
            )
            persona = msgspec.structs.replace(persona, avatar_media_id=media_id)
        return await self.create(identity, persona, avatar="uploaded")

    async def card_json(self, persona_id: str, identity: Identity | None) -> CharacterCard:
        return cards.card_v3(await self.readable(persona_id, identity))

    async def card_png(self, persona_id: str, identity: Identity | None) -> tuple[Persona, bytes]:
        p = await self.readable(persona_id, identity)
        # Whoever may read the persona may have its card; the avatar is read as its owner.
        owner = Identity(user_id=p.owner_id, via="internal")
        image = await self.media.content(owner, p.avatar_media_id) if p.avatar_media_id else None
        try:
            return p, cards.card_png(p, image)
        except OSError:
            log.warning("avatar is not an image; using a generated portrait", persona_id=p.id)
            return p, cards.card_png(p, None)
