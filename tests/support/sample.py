"""A small service built with the chassis, used to test the bridge and the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse

from chassis.app import ServiceContext, create_service_app
from chassis.auth import current_identity
from chassis.binding import bind, bind_query
from chassis.cursors import Cursors
from chassis.errors import NotFound
from chassis.openapi import OpenAPI
from chassis.responses import created, ok
from chassis.routing import route
from chassis.settings import Settings
from gateway.routes import ROUTES

# The gateway's route table with this service on `/sample`.
SAMPLE_ROUTES = (*ROUTES, ("/sample", "sample"))
SERVICE = "sample"
DIGEST_MAX_BODY = 64 * 1024 * 1024


class Item(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    quantity: int
    tags: list[str] = []


class BlobQuery(msgspec.Struct):
    size: int = 1024


class Ascending(msgspec.Struct, array_like=True, tag="a"):
    """Numbers, smallest first: the last number shown."""

    after: int


class Descending(msgspec.Struct, array_like=True, tag="d"):
    after: int


class PageQuery(msgspec.Struct):
    cursor: str | None = None
    limit: int = 2
    order: str = "ascending"


NUMBERS = list(range(1, 8))
cursors = Cursors(Ascending | Descending)


def blob_bytes(size: int) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            left -= len(piece)
            yield piece

    return gen()


def create_app(settings: Settings, replica: str = "a") -> Starlette:
    async def hello(request: Request) -> dict[str, str]:
        return {"hello": "world", "replica": replica}

    async def add_item(request: Request) -> object:
        item = await bind(request, Item)
        return created({"item": item})

    async def digest(request: Request) -> dict[str, object]:
        h = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            h.update(chunk)
            size += len(chunk)
        return {"sha256": h.hexdigest(), "size": size}

    async def blob(request: Request) -> StreamingResponse:
        q = bind_query(request, BlobQuery)
        return StreamingResponse(blob_bytes(q.size), media_type="application/octet-stream")

    async def slow(request: Request) -> dict[str, bool]:
        await asyncio.sleep(float(request.query_params.get("seconds", "5")))
        return {"slept": True}

    async def crash(request: Request) -> None:
        raise RuntimeError("secret database password is hunter2")

    async def whoami(request: Request) -> object:
        identity = current_identity(request)
        return {"identity": identity, "authorization": request.headers.get("authorization")}

    async def numbers(request: Request) -> object:
        q = bind_query(request, PageQuery)
        if q.order == "descending":
            after_down = cursors.decode(q.cursor, Descending)
            rest = [n for n in NUMBERS[::-1] if after_down is None or n < after_down.after]
            page = rest[: q.limit]
            more: Ascending | Descending | None = Descending(page[-1]) if len(rest) > q.limit else None
        else:
            after_up = cursors.decode(q.cursor, Ascending)
            rest = [n for n in NUMBERS if after_up is None or n > after_up.after]
            page = rest[: q.limit]
            more = Ascending(page[-1]) if len(rest) > q.limit else None
        return ok(page, next_cursor=cursors.encode(more) if more else None)

    async def missing(request: Request) -> None:
        raise NotFound("no such thing", details={"thing": request.path_params["thing_id"]})

    # Every route is described: the gateway routes only what a service's document lists.
    spec = OpenAPI("sample")
    t = ("sample",)
    spec.add("get", "/sample/hello", "Say hello", tags=t)
    spec.add("post", "/sample/items", "Add an item", body=Item, status=201, tags=t)
    spec.add("post", "/sample/digest", "Hash a body of any size", max_body=DIGEST_MAX_BODY, tags=t)
    spec.add("get", "/sample/blob", "A body of `size` bytes", query=BlobQuery, tags=t)
    spec.add("get", "/sample/slow", "Answer after `seconds`", tags=t)
    spec.add("get", "/sample/crash", "Fail with a secret in the exception", tags=t)
    spec.add("get", "/sample/whoami", "The identity the service was given", tags=t)
    spec.add("get", "/sample/private", "The identity, signed in only", auth=True, tags=t)
    spec.add("get", "/sample/things/{thing_id}", "A thing that is never there", tags=t)
    spec.add("get", "/sample/numbers", "Numbers a page at a time (keyset cursors)", query=PageQuery, tags=t)

    @contextlib.asynccontextmanager
    async def setup(ctx: ServiceContext) -> AsyncIterator[None]:
        ctx.state["replica"] = replica
        yield

    return create_service_app(
        SERVICE,
        settings,
        [
            route("/sample/hello", hello),
            route("/sample/items", add_item, methods=["POST"]),
            route("/sample/digest", digest, methods=["POST"]),
            route("/sample/blob", blob),
            route("/sample/slow", slow),
            route("/sample/crash", crash),
            route("/sample/whoami", whoami),
            route("/sample/private", whoami, auth=True),
            route("/sample/things/{thing_id}", missing),
            route("/sample/numbers", numbers),
        ],
        spec=spec,
        setup=setup,
    )
