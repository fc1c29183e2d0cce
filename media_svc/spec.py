"""OpenAPI description of media_svc's endpoints."""

from __future__ import annotations

from typing import Any

from chassis.openapi import OpenAPI
from chassis.settings import Settings
from media_svc.sniff import ALLOWED
from media_svc.uploads import FRAMING_SLACK
from proto.media import (
    GenerationRequest,
    MediaAccepted,
    MediaJobOut,
    MediaListQuery,
    MediaLookup,
    MediaOut,
    UploadForm,
    VisibilityUpdate,
)

TAGS = ("media",)


class MediaSpec(OpenAPI):
    def document(self) -> dict[str, Any]:
        doc = super().document()
        # msgspec describes bytes as base64 JSON; in a multipart form the file is raw binary.
        form = doc["components"]["schemas"]["UploadForm"]["properties"]
        form["file"] = {
            "type": "string",
            "format": "binary",
            "description": form["file"].get("description", ""),
        }
        return doc


def build_spec(settings: Settings | None = None) -> OpenAPI:
    settings = settings or Settings()
    spec = MediaSpec("media_svc", description="Uploads, variants, image and video generation.")
    spec.add(
        "post",
        "/media/uploads",
        "Upload an image or a video",
        description=(
            "multipart/form-data: `file` (JPEG, PNG, WebP, GIF, MP4, WebM or MOV, decided from its bytes),"
            " optional `persona_id` (a persona of yours: 403 otherwise) and `visibility`"
            " (private|public). Answers at once; the variants are made by the worker, which reports"
            " `media_progress`; `media_ready` or `media_failed` follows on `user:<id>` once the item"
            " is stored (`GET /media/{id}` then shows it). Images up to MAX_IMAGE_BYTES, videos up to"
            " MAX_VIDEO_BYTES."
        ),
        content_type="multipart/form-data",
        max_body=max(settings.max_image_bytes, settings.max_video_bytes) + FRAMING_SLACK,
        body=UploadForm,
        response=MediaAccepted,
        status=202,
        auth=True,
        errors=(400, 403, 404, 413, 415, 422, 503),
        tags=TAGS,
    )
    spec.add(
        "post",
        "/media/generations",
        "Generate an image or a video for a persona (its owner only: 403 for others)",
        description="At most MAX_GENERATIONS_PER_USER run at once (429 beyond). A video is a slideshow"
        " of the persona's ready images.",
        body=GenerationRequest,
        response=MediaAccepted,
        status=202,
        auth=True,
        errors=(403, 404, 429, 503),
        tags=TAGS,
    )
    spec.add(
        "get",
        "/media",
        "List media, newest first",
        description="Without `persona_id`: your own media. With it: that persona's media that are yours"
        " or public. `meta.next_cursor` gives the next page.",
        query=MediaListQuery,
        response=list[MediaOut],
        auth=True,
        errors=(422,),
        tags=TAGS,
    )
    spec.add(
        "post",
        "/media/lookup",
        "Look up several media items at once",
        description="Up to 100 ids; answers the items you may see (yours, and public ones; signed out:"
        " public ones) in the order asked. Unknown and hidden ids are left out, not errors. persona_svc"
        " resolves a whole page of persona avatars with one call.",
        body=MediaLookup,
        response=list[MediaOut],
        errors=(422,),
        tags=TAGS,
    )
    spec.add(
        "get",
        "/media/jobs/{job_id}",
        "A media job's state and last progress",
        response=MediaJobOut,
        auth=True,
        errors=(404,),
        tags=TAGS,
    )
    spec.add(
        "get",
        "/media/{media_id}",
        "One media item with complete URLs of its variants",
        response=MediaOut,
        auth=True,
        errors=(404,),
        tags=TAGS,
    )
    spec.add(
        "patch",
        "/media/{media_id}",
        "Make a media item public or private (owner only)",
        body=VisibilityUpdate,
        response=MediaOut,
        auth=True,
        errors=(403, 404),
        tags=TAGS,
    )
    spec.add(
        "delete",
        "/media/{media_id}",
        "Delete a media item and every stored object (owner only)",
        status=204,
        auth=True,
        errors=(403, 404, 503),
        tags=TAGS,
    )
    spec.add(
        "get",
        "/media/{media_id}/content",
        "The original's bytes (metadata stripped)",
        # The type the stored original was sniffed as (uploads) or made as (generations).
        response_type=ALLOWED,
        auth=True,
        errors=(404, 409),
        tags=TAGS,
    )
    return spec
