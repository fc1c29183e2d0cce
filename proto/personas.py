"""Personas, the community around them (likes, follows, reports, profiles) and AI drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from proto import subjects
from proto.events import Event
from proto.jobs import JobBase

LONG_TEXT = 32 * 1024
Visibility = Literal["public", "unlisted", "private"]
Moderation = Literal["visible", "hidden", "removed"]

Name = Annotated[str, Meta(min_length=1, max_length=80)]
Tagline = Annotated[str, Meta(max_length=200)]
LongText = Annotated[str, Meta(max_length=LONG_TEXT)]
Tag = Annotated[str, Meta(min_length=1, max_length=32)]
Tags = Annotated[list[Tag], Meta(max_length=20)]
Greetings = Annotated[list[LongText], Meta(max_length=50)]
ShortText = Annotated[str, Meta(max_length=200)]
MediaId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a media_svc item id")]


class PersonaCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /personas`. The card fields (creator_notes … card_extras) are optional; imports set them."""

    name: Name
    description: LongText
    greeting: LongText
    visibility: Visibility
    tagline: Tagline = ""
    personality: LongText = ""
    scenario: LongText = ""
    alternate_greetings: Greetings = []
    example_dialogues: LongText = ""
    system_prompt: LongText = ""
    post_history_instructions: LongText = ""
    tags: Tags = []
    nsfw: bool = False
    avatar_media_id: MediaId | None = None
    creator_notes: LongText = ""
    creator: ShortText = ""
    character_version: ShortText = ""
    character_book: dict[str, Any] | None = None
    extensions: dict[str, Any] = {}
    card_extras: dict[str, Any] = {}


class PersonaPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`PATCH /personas/{persona_id}`: only the fields present change."""

    name: Name | UnsetType = UNSET
    description: LongText | UnsetType = UNSET
    greeting: LongText | UnsetType = UNSET
    visibility: Visibility | UnsetType = UNSET
    tagline: Tagline | UnsetType = UNSET
    personality: LongText | UnsetType = UNSET
    scenario: LongText | UnsetType = UNSET
    alternate_greetings: Greetings | UnsetType = UNSET
    example_dialogues: LongText | UnsetType = UNSET
    system_prompt: LongText | UnsetType = UNSET
    post_history_instructions: LongText | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    nsfw: bool | UnsetType = UNSET
    avatar_media_id: MediaId | None | UnsetType = UNSET
    creator_notes: LongText | UnsetType = UNSET
    creator: ShortText | UnsetType = UNSET
    character_version: ShortText | UnsetType = UNSET
    character_book: dict[str, Any] | None | UnsetType = UNSET
    extensions: dict[str, Any] | UnsetType = UNSET


class ForkOrigin(msgspec.Struct, kw_only=True):
    """Whom a fork credits: the persona it was copied from and that persona's creator. Names are
    null where the caller may not see them (the original went private, was deleted, or auth_svc
    did not answer); the creator is credited by id even then."""

    persona_id: str
    persona_name: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None


class AvatarUrls(msgspec.Struct, kw_only=True):
    """Complete URLs of a ready avatar (signed or presigned ones expire, `MEDIA_URL_TTL`)."""

    thumbnail: str
    optimized: str


class Persona(msgspec.Struct, kw_only=True):
    """A persona as every endpoint shows it (and as the stores keep it)."""

    id: str
    owner_id: str
    name: str
    description: str
    greeting: str
    visibility: Visibility
    tagline: str = ""
    personality: str = ""
    scenario: str = ""
    alternate_greetings: list[str] = []
    example_dialogues: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    tags: list[str] = []
    nsfw: bool = False
    avatar_media_id: str | None = None
    creator_notes: str = ""
    creator: str = ""
    character_version: str = ""
    character_book: dict[str, Any] | None = None
    extensions: dict[str, Any] = {}
    # V3 card fields without a column of their own (nickname, source, assets…), kept for export.
    card_extras: dict[str, Any] = {}
    forked_from: str | None = None
    # Resolved on a single persona's view (never stored, null in listings): the original a fork credits.
    fork_origin: ForkOrigin | None = None
    moderation: Moderation = "visible"
    like_count: int = 0
    chat_count: int = 0
    liked_by_me: bool = False
    owner_name: str | None = None
    # Resolved from media_svc for the caller at each answer (never stored): the avatar's
    # thumbnail, and both sizes; null while it is processing, gone, or not readable.
    avatar_url: str | None = None
    avatar_urls: AvatarUrls | None = None
    created_at: datetime
    updated_at: datetime


class PersonaSummary(msgspec.Struct, kw_only=True):
    """A persona as listings show it (`GET /personas`, search, a creator's list, `GET /feed`):
    what a card needs, never the long texts or the lorebook; `GET /personas/{persona_id}` has
    the whole persona."""

    id: str
    owner_id: str
    name: str
    visibility: Visibility
    tagline: str = ""
    tags: list[str] = []
    nsfw: bool = False
    avatar_media_id: str | None = None
    forked_from: str | None = None
    moderation: Moderation = "visible"
    like_count: int = 0
    chat_count: int = 0
    liked_by_me: bool = False
    owner_name: str | None = None
    avatar_url: str | None = None
    avatar_urls: AvatarUrls | None = None
    created_at: datetime
    updated_at: datetime


class PersonaListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sort: Literal["new", "top", "trending"] = "new"
    tag: Tag | None = None
    q: Annotated[str, Meta(min_length=1, max_length=100)] | None = None
    creator_id: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    # Unset: the caller's content setting decides. `false` hides NSFW personas (but the caller's
    # own); `true` needs the setting on (403 otherwise).
    include_nsfw: bool | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Annotated[str, Meta(max_length=512)] | None = None


class PageQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Annotated[str, Meta(max_length=512)] | None = None


class FeedQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    include_nsfw: bool | None = None


class ContentSettings(msgspec.Struct, kw_only=True):
    """`GET /users/me/settings`: what the community shows this account. `show_nsfw` is off until
    the account turns it on with an age confirmation (`adult_confirmed_at`, the latest one)."""

    show_nsfw: bool = False
    adult_confirmed_at: datetime | None = None


class ContentSettingsPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`PATCH /users/me/settings`. Turning `show_nsfw` on needs `confirm_adult: true` (the caller
    confirms being 18 or older); turning it off needs nothing."""

    show_nsfw: bool
    confirm_adult: bool = False


class ForkRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    visibility: Visibility = "private"


class ImportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    visibility: Visibility = "private"


class LikeState(msgspec.Struct, kw_only=True):
    persona_id: str
    liked_by_me: bool
    like_count: int


class FollowState(msgspec.Struct, kw_only=True):
    user_id: str
    followed_by_me: bool
    follower_count: int


class UserProfile(msgspec.Struct, kw_only=True):
    """`GET /users/{user_id}`: the public profile (name and bio from auth_svc) and community counts."""

    id: str
    display_name: str = ""
    bio: str = ""
    public_persona_count: int = 0
    follower_count: int = 0
    following_count: int = 0
    followed_by_me: bool = False


class PublicUser(msgspec.Struct, kw_only=True):
    """What auth_svc answers for a user (`GET /auth/users/{id}`, `POST /auth/users/lookup`)."""

    id: str
    display_name: str = ""
    bio: str = ""


class UserLookup(msgspec.Struct, kw_only=True):
    ids: list[str]


# Reports and moderation


class ReportCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=1, max_length=1000)]


class Report(msgspec.Struct, kw_only=True):
    id: str
    persona_id: str
    reporter_id: str
    reason: str
    created_at: datetime
    reviewed_at: datetime | None = None


class ReportState(msgspec.Struct, kw_only=True):
    """The answer to a report: how many distinct users reported it, and whether it is hidden now."""

    persona_id: str
    open_reports: int
    moderation: Moderation


class ReportedPersona(msgspec.Struct, kw_only=True):
    """One entry of the moderation queue (`GET /personas/reports`, admins only)."""

    persona: Persona
    open_reports: int
    reports: list[Report]


class ModerationQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    hidden_only: bool = False


# AI drafts


class PersonaDraft(msgspec.Struct, kw_only=True):
    """A whole persona drafted from an idea; every field is what `POST /personas` takes."""

    name: Name
    tagline: Tagline
    description: Annotated[str, Meta(min_length=1, max_length=LONG_TEXT)]
    personality: Annotated[str, Meta(min_length=1, max_length=LONG_TEXT)]
    scenario: Annotated[str, Meta(min_length=1, max_length=LONG_TEXT)]
    greeting: Annotated[str, Meta(min_length=1, max_length=LONG_TEXT)]
    alternate_greetings: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=LONG_TEXT)]], Meta(min_length=2)
    ]
    example_dialogues: Annotated[str, Meta(min_length=1, max_length=LONG_TEXT)]
    tags: Tags
    nsfw: bool = False


class DraftExchange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One example exchange of a draft: what the user says, and the character's answer."""

    user: Annotated[str, Meta(min_length=5, max_length=200)]
    char: Annotated[str, Meta(min_length=20, max_length=300)]


class DraftAnswer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a text model writes for a draft. Its JSON Schema (`msgspec.json.schema`) constrains the
    model's output. The upper limits, tighter than a persona's, keep any one field from running
    away (about 1,000 tokens at most in all: half a minute on the embedded model); the lower ones,
    and the lists where a card has text (traits, example exchanges), keep a small model from
    answering a field with a word. The worker turns it into a `PersonaDraft`."""

    name: Annotated[str, Meta(min_length=2, max_length=60)]
    tagline: Annotated[str, Meta(min_length=20, max_length=160)]
    description: Annotated[str, Meta(min_length=120, max_length=700)]
    personality: Annotated[
        list[Annotated[str, Meta(min_length=3, max_length=60)]], Meta(min_length=3, max_length=6)
    ]
    scenario: Annotated[str, Meta(min_length=30, max_length=400)]
    greeting: Annotated[str, Meta(min_length=60, max_length=500)]
    # Two keys, not a list of two: a small model that means to end the list after one writes the
    # next key inside the second string instead.
    second_greeting: Annotated[str, Meta(min_length=40, max_length=400)]
    third_greeting: Annotated[str, Meta(min_length=40, max_length=400)]
    example_dialogues: Annotated[list[DraftExchange], Meta(min_length=2, max_length=2)]
    tags: Annotated[list[Annotated[str, Meta(min_length=2, max_length=24)]], Meta(min_length=3, max_length=8)]


class GenerateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    idea: Annotated[str, Meta(min_length=3, max_length=500)]
    tags: Tags = []
    nsfw: bool = False


class JobAccepted(msgspec.Struct, kw_only=True):
    job_id: str


class DraftJob(JobBase, kw_only=True):
    """Draft a whole persona from a one-line `idea` (the worker's `persona_draft` kind)."""

    idea: str
    tags: list[str] = []
    nsfw: bool = False


class DraftResult(msgspec.Struct, kw_only=True):
    """A finished draft (or why there is none), kept by persona_svc for `GET /personas/drafts/{job_id}`."""

    job_id: str
    user_id: str
    status: Literal["done", "failed"]
    draft: PersonaDraft | None = None
    error: str | None = None
    provider: str = ""
    model: str = ""


class DraftView(msgspec.Struct, kw_only=True):
    job_id: str
    status: Literal["pending", "done", "failed"]
    idea: str
    draft: PersonaDraft | None = None
    error: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


class PersonaDraftProgress(Event, tag="persona_draft_progress"):
    """A piece of the draft as the model writes it (on the requester's `user:<id>`). A new
    `attempt` (the job was redelivered, or the model is asked again after an invalid answer)
    starts the text over."""

    job_id: str
    delta: str
    attempt: int = 1


class PersonaDraftReady(Event, tag="persona_draft_ready"):
    """The validated draft, ready to be edited and posted to `POST /personas` (on the requester's
    `user:<id>`; sent by persona_svc once the draft is stored for `GET /personas/drafts/{job_id}`)."""

    job_id: str
    draft: PersonaDraft


class PersonaDraftFailed(Event, tag="persona_draft_failed"):
    """No draft: the model gave no valid one (after one corrective retry), refused the idea, or is
    unavailable (on the requester's `user:<id>`; sent by persona_svc once the outcome is stored)."""

    job_id: str
    reason: str


# Notifications


class Notification(Event, tag="notification"):
    """Someone liked or forked one of your personas, or followed you (on the owner's `user:<id>`).
    A fork names your persona (`persona_id`, `persona_name`); `fork_id` is the copy, shown only
    when the copy is public or unlisted. `like_count` is the persona's like count right after a
    like, so the owner's pages show the same number as the notification."""

    kind: Literal["like", "follow", "fork"]
    actor_id: str
    actor_name: str = ""
    persona_id: str | None = None
    persona_name: str | None = None
    fork_id: str | None = None
    like_count: int | None = None


# The community channel (`public:community`): anyone may follow it, visitors included, so only
# what every visitor may read travels there: public personas that are not hidden by reports.


class PersonaPublished(Event, tag="persona_published"):
    """A persona became public (created public, or made public later) on `public:community`.
    Clients that show it (Explore, newest first) read `GET /personas/{persona_id}`."""

    persona_id: str
    name: str
    nsfw: bool = False


class PersonaStats(Event, tag="persona_stats"):
    """A public persona's counts changed (a like, an unlike, a chat started) on
    `public:community`: the new counts, to show wherever the persona is on screen."""

    persona_id: str
    like_count: int
    chat_count: int


# What travels on each subject this module owns (listed in docs/channels.md).
MESSAGES: dict[str, type[msgspec.Struct]] = {
    subjects.JOBS_PERSONA_DRAFT: DraftJob,
    subjects.RESULTS_DRAFT: DraftResult,
}

draft_job_decoder = msgspec.json.Decoder(DraftJob)
draft_result_decoder = msgspec.json.Decoder(DraftResult)
persona_draft_decoder = msgspec.json.Decoder(PersonaDraft)
