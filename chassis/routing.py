"""`route()`: a handler returns data (wrapped by `ok`) or a Response, or raises HTTPError."""

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
) -> Route:
    return Route(path, wrap(handler, auth=auth), methods=list(methods), name=name or handler.__name__)
