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
from chassis.responses import accepted, no_content, ok
from chassis.routing import route
from chassis.settings import Settings
from chassis.storage import open_storage
from chassis.subscribers import consuming
from media_svc.results import results_subscriber
from media_svc.service import MediaService
from media_svc.spec import build_spec
from media_svc.store import MediaStore
from media_svc.store_memory import MemoryMediaStore
from media_svc.store_pg import PgMediaStore
from proto.media import GenerationRequest, MediaListQuery, MediaLookup, VisibilityUpdate

SERVICE = "media"
MIGRATIONS = Path(__file__).parent / "migrations"


def _service(request: Request) -> MediaService:
    service: MediaService = request.state.media
    return service


async def upload(request: Request) -> Response:
    identity = require_user(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return accepted(await _service(request).upload(identity, headers, request.stream()))


async def generate(request: Request) -> Response:
    identity = require_user(request)
    body = await bind(request, GenerationRequest)
    return accepted(await _service(request).generate(identity, body))


async def lookup_media(request: Request) -> object:
    body = await bind(request, MediaLookup)
    return await _service(request).lookup(current_identity(request), body.ids)


async def list_media(request: Request) -> Response:
    identity = require_user(request)
    query = bind_query(request, MediaListQuery)
    page, cursor = await _service(request).list_media(identity, query)
    return ok(page, next_cursor=cursor)


async def get_media(request: Request) -> object:
    return await _service(request).get(require_user(request), request.path_params["media_id"])


async def update_media(request: Request) -> object:
    identity = require_user(request)
    body = await bind(request, VisibilityUpdate)
    return await _service(request).set_visibility(identity, request.path_params["media_id"], body.visibility)


async def delete_media(request: Request) -> Response:
    await _service(request).delete(require_user(request), request.path_params["media_id"])
    return no_content()


async def media_content(request: Request) -> Response:
    media_id = request.path_params["media_id"]
    content_type, size, body = await _service(request).content(require_user(request), media_id)
    return StreamingResponse(
        body,
        media_type=content_type,
        headers={"content-length": str(size), "cache-control": "private, no-store"},
    )


async def get_job(request: Request) -> object:
    return await _service(request).job(require_user(request), request.path_params["job_id"])


def routes() -> list[BaseRoute]:
    return [
        route("/media", list_media, auth=True),
        route("/media/uploads", upload, methods=["POST"], auth=True),
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

    return create_service_app(
        SERVICE, settings, routes(), spec=build_spec(settings), setup=setup, migrations=MIGRATIONS
    )
