"""media_svc's logic: accept uploads and generations (record, enqueue, answer at once), show
items with complete URLs, persist each job's result exactly once and then announce it
(`media_ready` / `media_failed`), delete everything stored."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import msgspec
import structlog
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from chassis.bridge import BusClient
from chassis.calls import BusCallError, BusPayloadError
from chassis.clock import utcnow
from chassis.context import request_id_var
from chassis.cursors import Cursors
from chassis.errors import (
    Conflict,
    Forbidden,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    UnprocessableEntity,
)
from chassis.events import EventPublisher
from chassis.ids import is_uuid, new_id
from chassis.jobs import submit
from chassis.settings import Settings
from chassis.storage import Storage, StorageError
from media_svc.sniff import Sniffed
from media_svc.store import Applied, Cursor, JobRecord, MediaRecord, MediaStore
from media_svc.uploads import receive_upload
from proto.identity import Identity
from proto.media import (
    KV_MEDIA_PROGRESS,
    GenerationRequest,
    ImageGenerationJob,
    JobKindName,
    MediaAccepted,
    MediaFailed,
    MediaJobOut,
    MediaListQuery,
    MediaOut,
    MediaProcessJob,
    MediaProgressState,
    MediaReady,
    MediaResult,
    MediaUrls,
    VideoGenerationJob,
    Visibility,
    progress_state_decoder,
)
from proto.personas import Persona
from proto.subjects import JOBS_MEDIA_IMAGE, JOBS_MEDIA_PROCESS, JOBS_MEDIA_VIDEO, user_channel

log = structlog.get_logger("media_svc")

URL_VARIANTS = ("original", "optimized", "thumbnail", "poster")
PERSONA_TIMEOUT = 5.0
# Suggested wait before trying another generation when the quota is full.
QUOTA_RETRY_AFTER = 10.0
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def may_see(item: MediaRecord, identity: Identity | None) -> bool:
    """Public items are everyone's; the others only their owner's (and administrators')."""
    if item.visibility == "public":
        return True
    return identity is not None and (item.owner_id == identity.user_id or identity.is_admin)


class MediaKey(msgspec.Struct, array_like=True, tag="m"):
    """A page of media, newest first: `(created_at, id)` descending."""

    created_at: Annotated[datetime, msgspec.Meta(tz=True)]
    id: uuid.UUID


_cursors = Cursors(MediaKey, field="query.cursor")


def encode_cursor(item: MediaRecord) -> str:
    return _cursors.encode(MediaKey(created_at=item.created_at, id=uuid.UUID(item.id)))


def decode_cursor(cursor: str) -> Cursor | None:
    key = _cursors.decode(cursor, MediaKey)
    return None if key is None else (key.created_at, str(key.id))


@dataclass
class MediaService:
    settings: Settings
    store: MediaStore
    storage: Storage
    js: JetStreamContext
    bus: BusClient
    events: EventPublisher = field(init=False)
    _progress: KeyValue | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.events = EventPublisher(self.js)

    # Reading

    def _visible(self, item: MediaRecord | None, identity: Identity) -> MediaRecord:
        if item is None or not may_see(item, identity):
            raise NotFound("no such media", details={"field": "media_id"})
        return item

    def _owned(self, item: MediaRecord | None, identity: Identity) -> MediaRecord:
        item = self._visible(item, identity)
        if item.owner_id != identity.user_id and not identity.is_admin:
            raise Forbidden("only the owner can change this media")
        return item

    async def _find(self, media_id: str) -> MediaRecord | None:
        return await self.store.get(media_id) if is_uuid(media_id) else None

    async def urls(self, item: MediaRecord) -> MediaUrls:
        found = {}
        for name in URL_VARIANTS:
            variant = item.variants.get(name)
            if variant is not None:
                found[name] = await self.storage.url(variant.key)
        return MediaUrls(**found)

    async def out(self, item: MediaRecord) -> MediaOut:
        return MediaOut(
            id=item.id,
            owner_id=item.owner_id,
            persona_id=item.persona_id,
            kind=item.kind,
            source="generation" if item.source == "generation" else "upload",
            status=item.status,
            visibility=item.visibility,
            content_type=item.content_type,
            size=item.size,
            width=item.width,
            height=item.height,
            duration=item.duration,
            urls=await self.urls(item),
            provider=item.provider,
            label=item.label,
            prompt=item.prompt,
            error=item.error,
            job_id=item.job_id,
            created_at=item.created_at.isoformat(),
            updated_at=item.updated_at.isoformat(),
        )

    async def get(self, identity: Identity, media_id: str) -> MediaOut:
        return await self.out(self._visible(await self._find(media_id), identity))

    async def lookup(self, identity: Identity | None, media_ids: list[str]) -> list[MediaOut]:
        """The items among `media_ids` the caller may see (anyone: public ones), in the order asked;
        unknown, malformed and hidden ids are left out alike."""
        wanted = [i for i in dict.fromkeys(media_ids) if is_uuid(i)]
        found = {item.id: item for item in await self.store.get_many(wanted)}
        return [
            await self.out(item)
            for i in wanted
            if (item := found.get(i)) is not None and may_see(item, identity)
        ]

    async def list_media(
        self, identity: Identity, query: MediaListQuery
    ) -> tuple[list[MediaOut], str | None]:
        after = decode_cursor(query.cursor) if query.cursor else None
        items = await self.store.page(identity.user_id, query.persona_id, after, query.limit + 1)
        more = len(items) > query.limit
        items = items[: query.limit]
        page = [await self.out(item) for item in items]
        return page, encode_cursor(items[-1]) if more else None

    async def content(self, identity: Identity, media_id: str) -> tuple[str, int, AsyncIterator[bytes]]:
        """The original's content type, size and bytes (metadata stripped by the worker)."""
        item = self._visible(await self._find(media_id), identity)
        original = item.variants.get("original")
        if item.status != "ready" or original is None:
            raise Conflict(
                f"the media is {item.status}, not ready", code="not_ready", details={"status": item.status}
            )
        return original.content_type, original.size, self.storage.read(original.key)

    async def job(self, identity: Identity, job_id: str) -> MediaJobOut:
        job = await self.store.get_job(job_id) if is_uuid(job_id) else None
        if job is None or (job.owner_id != identity.user_id and not identity.is_admin):
            raise NotFound("no such job", details={"field": "job_id"})
        state, stage, percent = job.state, None, 0
        if job.state == "done":
            stage, percent = "done", 100
        elif job.state == "failed":
            stage = "failed"
        else:
            progress = await self._last_progress(job.id)
            if progress is not None:
                state, stage, percent = "running", progress.stage, progress.percent
        return MediaJobOut(
            job_id=job.id,
            media_id=job.media_id,
            kind=job.kind,
            state=state,
            stage=stage,
            percent=percent,
            error=job.error,
            created_at=job.created_at.isoformat(),
            finished_at=job.finished_at.isoformat() if job.finished_at else None,
        )

    async def _last_progress(self, job_id: str) -> MediaProgressState | None:
        try:
            if self._progress is None:
                self._progress = await self.js.key_value(KV_MEDIA_PROGRESS)
            entry = await self._progress.get(job_id)
        except (BucketNotFoundError, KeyNotFoundError):
            return None
        except Exception as exc:  # noqa: BLE001 - progress is a nicety; the job state still answers
            log.warning("could not read job progress", error=repr(exc))
            return None
        return progress_state_decoder.decode(entry.value) if entry.value else None

    # Writing

    async def _own_persona(self, identity: Identity, persona_id: str) -> str:
        """The name of `persona_id` when the caller owns it: only a persona's owner adds media
        to it (403). persona_svc decides, over the bus, what the caller may see: a persona they
        cannot see is a 404. When persona_svc cannot answer, nothing is added (503)."""
        unavailable = ServiceUnavailable("the persona cannot be checked right now; retry shortly")
        try:
            persona = await self.bus.fetch(
                "persona",
                "GET",
                f"/personas/{persona_id}",
                Persona,
                identity=identity,
                timeout=PERSONA_TIMEOUT,
            )
        except (ServiceUnavailable, GatewayTimeout) as exc:
            log.warning("persona_svc unavailable; media for a persona refused", error=exc.message)
            raise unavailable from None
        except BusCallError as exc:
            if exc.status in (403, 404):
                raise NotFound("no such persona", details={"field": "persona_id"}) from None
            log.warning("persona_svc answered unexpectedly", status=exc.status)
            raise unavailable from None
        except BusPayloadError:
            log.warning("persona_svc answered with an unexpected persona")
            raise unavailable from None
        if persona.owner_id != identity.user_id:
            raise Forbidden("only the persona's owner can add media to it", details={"field": "persona_id"})
        return persona.name

    async def _enqueue(self, subject: str, job_id: str, job: msgspec.Struct, media: MediaRecord) -> None:
        async def mark_failed() -> None:
            failed = MediaResult(
                job_id=job_id,
                user_id=media.owner_id,
                media_id=media.id,
                status="failed",
                kind=media.kind,
                error="could not enqueue",
            )
            await self.store.apply_result(failed, utcnow())
            await self.store.delete(media.id)
            await self.storage.delete_prefix(f"{media.id}/")

        await submit(self.js, subject, job_id, job, mark_failed=mark_failed)

    async def upload(
        self, identity: Identity, headers: dict[str, str], body: AsyncIterator[bytes]
    ) -> MediaAccepted:
        media_id, job_id = new_id(), new_id()

        def key_for(sniffed: Sniffed) -> str:
            return f"{media_id}/upload.{sniffed.ext}"

        try:
            pending = await receive_upload(headers, body, self.storage, self.settings, key_for)
        except StorageError as exc:
            raise ServiceUnavailable("media storage is unavailable; retry shortly") from exc
        try:
            persona_id = pending.fields.get("persona_id") or None
            visibility = _visibility(pending.fields.get("visibility") or "private")
            if persona_id is not None:
                _check_id(persona_id, "persona_id")
                await self._own_persona(identity, persona_id)
            size = await pending.commit()
        except BaseException:
            await pending.abort()
            raise
        stamp = utcnow()
        media = MediaRecord(
            id=media_id,
            owner_id=identity.user_id,
            persona_id=persona_id,
            kind=pending.sniffed.kind,
            source="upload",
            status="processing",
            visibility=visibility,
            content_type=pending.sniffed.content_type,
            size=size,
            job_id=job_id,
            created_at=stamp,
            updated_at=stamp,
        )
        job = _queued_job(media, "process")
        try:
            await self.store.create(media, job)
        except BaseException:
            await self.storage.delete_prefix(f"{media_id}/")
            raise
        await self._enqueue(
            JOBS_MEDIA_PROCESS,
            job_id,
            MediaProcessJob(
                job_id=job_id,
                user_id=identity.user_id,
                request_id=request_id_var.get(),
                media_id=media_id,
                kind=pending.sniffed.kind,
                content_type=pending.sniffed.content_type,
                upload_key=pending.key,
                size=size,
            ),
            media,
        )
        log.info(
            "upload accepted", media_id=media_id, job_id=job_id, size=size, type=pending.sniffed.content_type
        )
        return MediaAccepted(job_id=job_id, media_id=media_id)

    async def generate(self, identity: Identity, request: GenerationRequest) -> MediaAccepted:
        persona_name = await self._own_persona(identity, request.persona_id)
        image_keys: list[str] = []
        if request.kind == "video":
            images = await self.store.persona_images(
                identity.user_id, request.persona_id, self.settings.slideshow_max_images
            )
            image_keys = [
                (m.variants.get("optimized") or m.variants["original"]).key
                for m in images
                if "optimized" in m.variants or "original" in m.variants
            ]
            if not image_keys:
                raise UnprocessableEntity(
                    "this persona has no ready images of yours: upload or generate an image first",
                    field="persona_id",
                )
        media_id, job_id, stamp = new_id(), new_id(), utcnow()
        media = MediaRecord(
            id=media_id,
            owner_id=identity.user_id,
            persona_id=request.persona_id,
            kind=request.kind,
            source="generation",
            status="processing",
            visibility=request.visibility,
            content_type="image/png" if request.kind == "image" else "video/mp4",
            prompt=request.prompt,
            provider=self.settings.image_provider
            if request.kind == "image"
            else self.settings.video_provider,
            job_id=job_id,
            created_at=stamp,
            updated_at=stamp,
        )
        job = _queued_job(media, request.kind)
        limit = self.settings.max_generations_per_user
        if not await self.store.create_generation(media, job, limit):
            raise TooManyRequests(
                f"at most {limit} generations can run at once; wait for one to finish",
                retry_after=QUOTA_RETRY_AFTER,
                details={"limit": limit},
            )
        common = {
            "job_id": job_id,
            "user_id": identity.user_id,
            "request_id": request_id_var.get(),
            "media_id": media_id,
            "persona_id": request.persona_id,
            "prompt": request.prompt,
            "persona_name": persona_name,
        }
        if request.kind == "image":
            await self._enqueue(JOBS_MEDIA_IMAGE, job_id, ImageGenerationJob(**common), media)
        else:
            await self._enqueue(
                JOBS_MEDIA_VIDEO, job_id, VideoGenerationJob(**common, image_keys=image_keys), media
            )
        log.info("generation accepted", media_id=media_id, job_id=job_id, kind=request.kind)
        return MediaAccepted(job_id=job_id, media_id=media_id)

    async def set_visibility(self, identity: Identity, media_id: str, visibility: Visibility) -> MediaOut:
        self._owned(await self._find(media_id), identity)
        item = await self.store.set_visibility(media_id, visibility, utcnow())
        if item is None:
            raise NotFound("no such media", details={"field": "media_id"})
        return await self.out(item)

    async def delete(self, identity: Identity, media_id: str) -> None:
        item = self._owned(await self._find(media_id), identity)
        try:
            # Objects first: if storage fails nothing changed and the caller can retry.
            await self.storage.delete_prefix(f"{item.id}/")
        except StorageError as exc:
            raise ServiceUnavailable("media storage is unavailable; retry shortly") from exc
        await self.store.delete(item.id)
        log.info("media deleted", media_id=item.id)

    # Results (from the worker, through `results.media`)

    async def apply_result(self, result: MediaResult) -> Applied:
        """Persist, then announce what is stored. A redelivered result (this service stopped
        between its commit and its ack) is a duplicate here and announced again; EVENTS keeps
        the first copy. An item deleted while its job ran is announced by nothing."""
        outcome = await self.store.apply_result(result, utcnow())
        if outcome is Applied.ORPHAN:
            # Deleted while its job ran: remove what the worker stored after the delete.
            await self.storage.delete_prefix(f"{result.media_id}/")
        log.info("media result", media_id=result.media_id, job_id=result.job_id, outcome=outcome.value)
        item = await self.store.get(result.media_id) if outcome is not Applied.ORPHAN else None
        if item is not None and item.job_id == result.job_id and item.status == result.status:
            event = await self._ending(item)
            await self.events.publish([user_channel(item.owner_id)], event, once=result.job_id)
        return outcome

    async def _ending(self, item: MediaRecord) -> MediaReady | MediaFailed:
        if item.status == "failed":
            return MediaFailed(job_id=item.job_id, media_id=item.id, reason=item.error or "processing failed")
        return MediaReady(
            job_id=item.job_id,
            media_id=item.id,
            kind=item.kind,
            urls=await self.urls(item),
            width=item.width,
            height=item.height,
            duration=item.duration,
            content_type=item.content_type,
            provider=item.provider,
            label=item.label,
        )


def _queued_job(media: MediaRecord, kind: JobKindName) -> JobRecord:
    """The job that produces `media`, queued as the item is created."""
    return JobRecord(
        id=media.job_id,
        media_id=media.id,
        owner_id=media.owner_id,
        kind=kind,
        state="queued",
        created_at=media.created_at,
    )


def _visibility(value: str) -> Visibility:
    if value == "public":
        return "public"
    if value == "private":
        return "private"
    raise UnprocessableEntity("visibility must be private or public", field="visibility")


def _check_id(value: str, name: str) -> None:
    if not ID.match(value):
        raise UnprocessableEntity(f"{name} is not a valid id", field=name)
