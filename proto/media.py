"""Media: the API bodies of media_svc, the jobs it enqueues, the result it persists, the events
users see while an upload or a generation is processed."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from proto import subjects
from proto.events import Event
from proto.jobs import JobBase

MediaKind = Literal["image", "video"]
MediaStatus = Literal["processing", "ready", "failed"]
Visibility = Literal["private", "public"]
JobKindName = Literal["process", "image", "video"]
JobState = Literal["queued", "running", "done", "failed"]

# Key-value bucket where the worker keeps each media job's last progress (read by
# `GET /media/jobs/{job_id}` for clients that missed the events).
KV_MEDIA_PROGRESS = "media_progress"

Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="an id")]
Prompt = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class MediaUrls(msgspec.Struct, omit_defaults=True):
    """Complete URLs, usable as they are (signed or presigned ones expire)."""

    original: str | None = None
    optimized: str | None = None
    thumbnail: str | None = None
    poster: str | None = None


class StoredVariant(msgspec.Struct, kw_only=True):
    """One stored object of a media item: `original`, `optimized`, `thumbnail` or `poster`."""

    key: str
    content_type: str
    size: int
    width: int = 0
    height: int = 0


# API bodies


class UploadForm(msgspec.Struct, kw_only=True):
    """`POST /media/uploads` as multipart/form-data (documents the form; parsed as a stream)."""

    file: Annotated[bytes, msgspec.Meta(description="the image or video; its type is read from its bytes")]
    persona_id: Id | None = None
    visibility: Visibility = "private"


class GenerationRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    persona_id: Id
    kind: MediaKind
    prompt: Prompt
    visibility: Visibility = "private"


class VisibilityUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    visibility: Visibility


class MediaLookup(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /media/lookup`: the items among `ids` the caller may see, in the order asked (one call
    for a whole page of avatars)."""

    ids: Annotated[list[Id], msgspec.Meta(max_length=100)]


class MediaListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    persona_id: Id | None = None
    cursor: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class MediaAccepted(msgspec.Struct, kw_only=True):
    job_id: str
    media_id: str


class MediaOut(msgspec.Struct, kw_only=True):
    id: str
    owner_id: str
    persona_id: str | None
    kind: MediaKind
    source: Literal["upload", "generation"]
    status: MediaStatus
    visibility: Visibility
    content_type: str
    size: int
    width: int | None
    height: int | None
    duration: float | None
    urls: MediaUrls
    # Who made a generated item and how it describes itself ("procedural art, no AI model").
    provider: str | None
    label: str | None
    prompt: str | None
    error: str | None
    job_id: str
    created_at: str
    updated_at: str


class MediaJobOut(msgspec.Struct, kw_only=True):
    job_id: str
    media_id: str
    kind: JobKindName
    state: JobState
    stage: str | None
    percent: int
    error: str | None
    created_at: str
    finished_at: str | None


# Jobs (JetStream `jobs.media.*`)


class MediaProcessJob(JobBase, kw_only=True):
    """Make the variants of an uploaded file stored at `upload_key`."""

    media_id: str
    kind: MediaKind
    content_type: str
    upload_key: str
    size: int = 0


class ImageGenerationJob(JobBase, kw_only=True):
    """Generate an image for a persona, then make its variants."""

    media_id: str
    persona_id: str
    prompt: str
    persona_name: str = ""


class VideoGenerationJob(JobBase, kw_only=True):
    """Render a video from the persona's images, then make its variants."""

    media_id: str
    persona_id: str
    prompt: str
    persona_name: str = ""
    # Storage keys of the persona's images (newest first), chosen by media_svc.
    image_keys: list[str] = []


class MediaResult(msgspec.Struct, kw_only=True):
    """What media_svc persists for a job, exactly once per job (idempotent by `job_id`)."""

    job_id: str
    user_id: str
    media_id: str
    status: Literal["ready", "failed"]
    kind: MediaKind
    content_type: str = ""
    size: int = 0
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    variants: dict[str, StoredVariant] = {}
    provider: str | None = None
    label: str | None = None
    error: str | None = None


class MediaProgressState(msgspec.Struct, kw_only=True):
    """The value kept in `KV_MEDIA_PROGRESS` under the job id."""

    job_id: str
    media_id: str
    stage: str
    percent: int


# Events on the owner's `user:<id>`


class MediaProgress(Event, tag="media_progress"):
    """`percent` is the whole job's progress (0-100, never decreasing); `stage` the current step.
    Both come from real work: bytes stored, layers drawn, frames ffmpeg reports encoded. Sent on
    the owner's `user:<id>`. A job retried after a failure or a worker restart starts over:
    `attempt` goes up and `percent` starts again from 0."""

    job_id: str
    media_id: str
    stage: str
    percent: int
    attempt: int = 1


class MediaReady(Event, tag="media_ready"):
    """Every variant is stored: complete URLs (signed or presigned ones expire; `GET /media/{id}`
    gives fresh ones). Sent on the owner's `user:<id>` by media_svc once it has stored the item."""

    job_id: str
    media_id: str
    kind: MediaKind
    urls: MediaUrls
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    content_type: str = ""
    provider: str | None = None
    label: str | None = None


class MediaFailed(Event, tag="media_failed"):
    """The upload or generation cannot be processed; `reason` is readable by the user (not an
    image, too many pixels, damaged file, provider refused). Sent on the owner's `user:<id>` by
    media_svc once it has stored the item as failed."""

    job_id: str
    media_id: str
    reason: str


# What travels on each subject this module owns (listed in docs/channels.md).
MESSAGES: dict[str, type[msgspec.Struct]] = {
    subjects.JOBS_MEDIA_PROCESS: MediaProcessJob,
    subjects.JOBS_MEDIA_IMAGE: ImageGenerationJob,
    subjects.JOBS_MEDIA_VIDEO: VideoGenerationJob,
    subjects.RESULTS_MEDIA: MediaResult,
}

media_process_job_decoder = msgspec.json.Decoder(MediaProcessJob)
image_generation_job_decoder = msgspec.json.Decoder(ImageGenerationJob)
video_generation_job_decoder = msgspec.json.Decoder(VideoGenerationJob)
media_result_decoder = msgspec.json.Decoder(MediaResult)
progress_state_decoder = msgspec.json.Decoder(MediaProgressState)
