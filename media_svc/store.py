"""What media_svc keeps: media items, the jobs that produce them, and per-user generation slots."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol

import msgspec

from proto.media import JobKindName, JobState, MediaKind, MediaResult, MediaStatus, StoredVariant, Visibility


class MediaRecord(msgspec.Struct, kw_only=True):
    id: str
    owner_id: str
    persona_id: str | None
    kind: MediaKind
    source: str  # "upload" | "generation"
    status: MediaStatus
    visibility: Visibility
    content_type: str
    size: int = 0
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    variants: dict[str, StoredVariant] = {}
    provider: str | None = None
    label: str | None = None
    prompt: str | None = None
    error: str | None = None
    job_id: str
    created_at: datetime
    updated_at: datetime


class JobRecord(msgspec.Struct, kw_only=True):
    id: str
    media_id: str
    owner_id: str
    kind: JobKindName
    state: JobState
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


class Applied(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this job's result was persisted before
    ORPHAN = "orphan"  # the media item was deleted while its job ran


# (created_at, id) of the last item of a page: the next page starts after it.
Cursor = tuple[datetime, str]


class MediaStore(Protocol):
    async def create(self, media: MediaRecord, job: JobRecord) -> None: ...

    async def create_generation(self, media: MediaRecord, job: JobRecord, limit: int) -> bool:
        """Record a generation if the owner has fewer than `limit` running; False otherwise."""
        ...

    async def get(self, media_id: str) -> MediaRecord | None: ...

    async def get_many(self, media_ids: list[str]) -> list[MediaRecord]:
        """The items among `media_ids` that exist, in any order (ids are valid UUIDs)."""
        ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def page(
        self, viewer_id: str, persona_id: str | None, after: Cursor | None, limit: int
    ) -> list[MediaRecord]:
        """Newest first: the viewer's own items, or with `persona_id` that persona's items the
        viewer owns or that are public."""
        ...

    async def persona_images(self, owner_id: str, persona_id: str, limit: int) -> list[MediaRecord]:
        """The owner's ready images of a persona, newest first."""
        ...

    async def apply_result(self, result: MediaResult, now: datetime) -> Applied:
        """Persist a job's outcome once: finish the job, update the item, free the slot."""
        ...

    async def set_visibility(
        self, media_id: str, visibility: Visibility, now: datetime
    ) -> MediaRecord | None: ...

    async def delete(self, media_id: str) -> MediaRecord | None:
        """Remove the item and its jobs; returns what was removed."""
        ...
