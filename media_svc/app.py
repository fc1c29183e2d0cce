"""media_svc: routes, served over the bus as `http.media`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from chassis.app import ServiceContext, create_service_app
from chassis.auth import current_identity, require_user
from chassis.binding import bind, bind_query
from chassis.openapi import Doc, OpenAPI
from chassis.responses import accepted, no_content, ok
from chassis.routing import route
from chassis.settings import Settings
from chassis.storage import open_storage
from chassis.subscribers import consuming
from media_svc.results import results_subscriber
from media_svc.service import MediaService
from media_svc.sniff import ALLOWED
from media_svc.store import MediaStore
from media_svc.store_memory import MemoryMediaStore
from media_svc.store_pg import PgMediaStore
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

SERVICE = "media"
MIGRATIONS = Path(__file__).parent / "migrations"


def _service(request: Request) -> MediaService:
    service: MediaService = request.state.media
    return service


@Doc(
    "Upload an image or a video",
    content_type="multipart/form-data",
    body=UploadForm,
    response=MediaAccepted,
    status=202,
    errors=(400, 403, 404, 413, 415, 422, 503),
)
async def upload(request: Request) -> Response:
    """multipart/form-data: `file` (JPEG, PNG, WebP, GIF, MP4, WebM or MOV, decided from its bytes),
    optional `persona_id` (a persona of yours: 403 otherwise) and `visibility` (private|public).
    Answers at once; the variants are made by the worker, which reports `media_progress`;
    `media_ready` or `media_failed` follows on `user:<id>` once the item is stored
    (`GET /media/{id}` then shows it). Images up to MAX_IMAGE_BYTES, videos up to MAX_VIDEO_BYTES."""
    identity = require_user(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return accepted(await _service(request).upload(identity, headers, request.stream()))


@Doc(
    "Generate an image or a video for a persona (its owner only: 403 for others)",
    body=GenerationRequest,
    response=MediaAccepted,
    status=202,
    errors=(403, 404, 429, 503),
)
async def generate(request: Request) -> Response:
    """At most MAX_GENERATIONS_PER_USER run at once (429 beyond). A video is a slideshow of the
    persona's ready images."""
    identity = require_user(request)
    body = await bind(request, GenerationRequest)
    return accepted(await _service(request).generate(identity, body))


@Doc("Look up several media items at once", body=MediaLookup, response=list[MediaOut], errors=(422,))
async def lookup_media(request: Request) -> object:
    """Up to 100 ids; answers the items you may see (yours, and public ones; signed out: public ones)
    in the order asked. Unknown and hidden ids are left out, not errors. persona_svc resolves a
    whole page of persona avatars with one call."""
    body = await bind(request, MediaLookup)
    return await _service(request).lookup(current_identity(request), body.ids)


@Doc("List media, newest first", query=MediaListQuery, response=list[MediaOut], errors=(422,))
async def list_media(request: Request) -> Response:
    """Without `persona_id`: your own media. With it: that persona's media that are yours or public.
    `meta.next_cursor` gives the next page."""
    identity = require_user(request)
    query = bind_query(request, MediaListQuery)
    page, cursor = await _service(request).list_media(identity, query)
    return ok(page, next_cursor=cursor)


@Doc("One media item with complete URLs of its variants", response=MediaOut, errors=(404,))
async def get_media(request: Request) -> object:
    return await _service(request).get(require_user(request), request.path_params["media_id"])


@Doc(
    "Make a media item public or private (owner only)",
    body=VisibilityUpdate,
    response=MediaOut,
    errors=(403, 404),
)
async def update_media(request: Request) -> object:
    identity = require_user(request)
    body = await bind(request, VisibilityUpdate)
    return await _service(request).set_visibility(identity, request.path_params["media_id"], body.visibility)


@Doc("Delete a media item and every stored object (owner only)", status=204, errors=(403, 404, 503))
async def delete_media(request: Request) -> Response:
    await _service(request).delete(require_user(request), request.path_params["media_id"])
    return no_content()


# Its type is the one the stored original was sniffed as (uploads) or made as (generations).
@Doc("The original's bytes (metadata stripped)", response_type=ALLOWED, errors=(404, 409))
async def media_content(request: Request) -> Response:
    media_id = request.path_params["media_id"]
    content_type, size, body = await _service(request).content(require_user(request), media_id)
    return StreamingResponse(
        body,
        media_type=content_type,
        headers={"content-length": str(size), "cache-control": "private, no-store"},
    )


@Doc("A media job's state and last progress", response=MediaJobOut, errors=(404,))
async def get_job(request: Request) -> object:
    return await _service(request).job(require_user(request), request.path_params["job_id"])


def routes(settings: Settings) -> list[BaseRoute]:
    largest_upload = max(settings.max_image_bytes, settings.max_video_bytes) + FRAMING_SLACK
    return [
        route("/media", list_media, auth=True),
        route("/media/uploads", upload, methods=["POST"], auth=True, max_body=largest_upload),
        route("/media/generations", generate, methods=["POST"], auth=True),
        # Anyone may ask: an anonymous caller gets the public items only.
        route("/media/lookup", lookup_media, methods=["POST"]),
        route("/media/jobs/{job_id}", get_job, auth=True),
        route("/media/{media_id}", get_media, auth=True),
        route("/media/{media_id}", update_media, methods=["PATCH"], auth=True, name="update_media"),
        route("/media/{media_id}", delete_media, methods=["DELETE"], auth=True, name="delete_media"),
        route("/media/{media_id}/content", media_content, auth=True),
    ]


def create_app(settings: Settings, store: MediaStore | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def setup(ctx: ServiceContext) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            storage = await stack.enter_async_context(open_storage(ctx.settings))
            ctx.health.add("storage", storage.check)
            chosen = store or (PgMediaStore(ctx.pool) if ctx.pool is not None else MemoryMediaStore())
            service = MediaService(ctx.settings, chosen, storage, ctx.js, ctx.bus)
            ctx.state["media"] = service
            await stack.enter_async_context(consuming(ctx.js, ctx.settings, [results_subscriber(service)]))
            yield

    spec = OpenAPI("media_svc", description="Uploads, variants, image and video generation.", tags=("media",))
    return create_service_app(
        SERVICE, settings, routes(settings), spec=spec, setup=setup, migrations=MIGRATIONS
    )
