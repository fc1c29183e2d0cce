"""`route()`: a handler returns data (wrapped by `ok`) or a Response, or raises HTTPError; the
handler declares what the service's OpenAPI document says of it (`@Doc(…)`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chassis.auth import require_user
from chassis.db import is_unavailable
from chassis.errors import HTTPError, ServiceUnavailable, error_for_status
from chassis.openapi import DEFAULT_MAX_BODY, DescribedRoute, handler_doc
from chassis.responses import error_response, ok

Handler = Callable[[Request], Awaitable[Any]]
log = structlog.get_logger("chassis.routing")


def wrap(handler: Handler, *, auth: bool = False) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            if auth:
                require_user(request)
            result = await handler(request)
        except HTTPError as exc:
            return error_response(exc)
        except StarletteHTTPException as exc:
            # Starlette's own refusals inside a handler, e.g. a multipart body without a boundary.
            return error_response(error_for_status(exc.status_code, str(exc.detail)))
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("dependency unavailable", error=repr(exc))
                return error_response(ServiceUnavailable("a backing store is unavailable; retry shortly"))
            log.exception("unhandled error", route=request.scope.get("route") and request.url.path)
            return error_response(HTTPError("internal error; the request id identifies it in the logs"))
        if isinstance(result, Response):
            return result
        return ok(result)

    return endpoint


def route(
    path: str,
    handler: Handler,
    *,
    methods: Sequence[str] = ("GET",),
    auth: bool = False,
    name: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    include_in_schema: bool = True,
) -> Route:
    """The service's document describes the route as its handler's `@Doc(…)` declares, with what
    the gateway enforces before the handler runs: `auth` (checked here too) as the operation's
    `security`, `max_body` as its `x-max-body`. A route left out of the schema is internal: the
    gateway routes only what a service's document lists."""
    return DescribedRoute(
        path,
        wrap(handler, auth=auth),
        methods=list(methods),
        name=name or handler.__name__,
        include_in_schema=include_in_schema,
        doc=handler_doc(handler),
        auth=auth,
        max_body=max_body,
    )
