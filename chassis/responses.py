"""Envelope responses: `{"data": …, "meta": {"request_id": …}}` and the error envelope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response

from chassis.context import request_id_var
from chassis.errors import HTTPError
from proto.codec import json_encoder
from proto.common import ErrorEnvelope, ErrorInfo, Meta


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_encoder.encode(content)


def envelope(data: Any, **meta: Any) -> dict[str, Any]:
    return {"data": data, "meta": {"request_id": request_id_var.get(), **meta}}


def ok(
    data: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    background: BackgroundTask | None = None,
    **meta: Any,
) -> JSONResponse:
    return JSONResponse(envelope(data, **meta), status_code=status, headers=headers, background=background)


def created(data: Any, **kwargs: Any) -> JSONResponse:
    return ok(data, status=201, **kwargs)


def accepted(data: Any, **kwargs: Any) -> JSONResponse:
    return ok(data, status=202, **kwargs)


def no_content() -> Response:
    return Response(status_code=204)


def error_body(
    status: int, code: str, message: str, details: Mapping[str, Any] | None = None, request_id: str = ""
) -> bytes:
    env = ErrorEnvelope(
        error=ErrorInfo(code=code, message=message, details=dict(details or {})),
        meta=Meta(request_id=request_id or request_id_var.get()),
    )
    return json_encoder.encode(env)


def error_response(exc: HTTPError) -> Response:
    return Response(
        error_body(exc.status, exc.code, exc.message, exc.details),
        status_code=exc.status,
        headers=exc.headers,
        media_type="application/json",
    )
