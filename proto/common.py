from __future__ import annotations

from typing import Any

import msgspec


class Meta(msgspec.Struct, omit_defaults=True):
    request_id: str = ""
    next_cursor: str | None = None


class ErrorInfo(msgspec.Struct):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorEnvelope(msgspec.Struct):
    """`{"error": {code, message, details}, "meta": {request_id}}`: every non-2xx body."""

    error: ErrorInfo
    meta: Meta = msgspec.field(default_factory=Meta)


error_envelope_decoder = msgspec.json.Decoder(ErrorEnvelope)
