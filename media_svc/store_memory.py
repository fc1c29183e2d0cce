"""In-memory store (no DATABASE_URL): the same behaviour as store_pg, for development."""

from __future__ import annotations

import asyncio
from datetime import datetime

import msgspec

from media_svc.store import Applied, Cursor, JobRecord, MediaRecord
from proto.media import MediaResult, Visibility


class MemoryMediaStore:
    def __init__(self) -> None:
        self.media: dict[str, MediaRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.slots: dict[str, set[str]] = {}  # owner → job ids holding a generation slot
        self._lock = asyncio.Lock()

    async def create(self, media: MediaRecord, job: JobRecord) -> None:
        async with self._lock:
            self.media[media.id] = media
            self.jobs[job.id] = job

    async def create_generation(self, media: MediaRecord, job: JobRecord, limit: int) -> bool:
        async with self._lock:
            held = self.slots.setdefault(media.owner_id, set())
            if len(held) >= limit:
                return False
            held.add(job.id)
            self.media[media.id] = media
            self.jobs[job.id] = job
            return True

    async def get(self, media_id: str) -> MediaRecord | None:
        return self.media.get(media_id)

    async def get_many(self, media_ids: list[str]) -> list[MediaRecord]:
        return [m for i in dict.fromkeys(media_ids) if (m := self.media.get(i)) is not None]

    async def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    async def page(
        self, viewer_id: str, persona_id: str | None, after: Cursor | None, limit: int
    ) -> list[MediaRecord]:
        if persona_id is None:
            found = [m for m in self.media.values() if m.owner_id == viewer_id]
        else:
            found = [
                m
                for m in self.media.values()
                if m.persona_id == persona_id and (m.owner_id == viewer_id or m.visibility == "public")
            ]
        found.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        if after is not None:
            found = [m for m in found if (m.created_at, m.id) < after]
        return found[:limit]

    async def persona_images(self, owner_id: str, persona_id: str, limit: int) -> list[MediaRecord]:
        found = [
            m
            for m in self.media.values()
            if m.owner_id == owner_id
            and m.persona_id == persona_id
            and m.kind == "image"
            and m.status == "ready"
        ]
        found.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        return found[:limit]

    async def apply_result(self, result: MediaResult, now: datetime) -> Applied:
        async with self._lock:
            for held in self.slots.values():
                held.discard(result.job_id)
            job = self.jobs.get(result.job_id)
            if job is None:
                return Applied.ORPHAN
            if job.state in ("done", "failed"):
                return Applied.DUPLICATE
            state = "done" if result.status == "ready" else "failed"
            self.jobs[job.id] = msgspec.structs.replace(job, state=state, error=result.error, finished_at=now)
            media = self.media.get(result.media_id)
            if media is None:
                return Applied.ORPHAN
            self.media[media.id] = _with_result(media, result, now)
            return Applied.APPLIED

    async def set_visibility(
        self, media_id: str, visibility: Visibility, now: datetime
    ) -> MediaRecord | None:
        async with self._lock:
            media = self.media.get(media_id)
            if media is None:
                return None
            media = self.media[media_id] = msgspec.structs.replace(
                media, visibility=visibility, updated_at=now
            )
            return media

    async def delete(self, media_id: str) -> MediaRecord | None:
        async with self._lock:
            media = self.media.pop(media_id, None)
            for job_id in [j.id for j in self.jobs.values() if j.media_id == media_id]:
                del self.jobs[job_id]
            return media


def _with_result(media: MediaRecord, result: MediaResult, now: datetime) -> MediaRecord:
    if result.status == "failed":
        return msgspec.structs.replace(media, status="failed", error=result.error, updated_at=now)
    return msgspec.structs.replace(
        media,
        status="ready",
        content_type=result.content_type or media.content_type,
        size=result.size or media.size,
        width=result.width,
        height=result.height,
        duration=result.duration,
        variants=result.variants,
        provider=result.provider or media.provider,
        label=result.label or media.label,
        error=None,
        updated_at=now,
    )
