"""HTTP errors a handler raises; the chassis turns each into the error envelope."""

from __future__ import annotations

from typing import Any


class HTTPError(Exception):
    status = 500
    code = "internal_error"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None) -> None:
        # `class NotFound(HTTPError, status=404, code="not_found")`: an error is one line.
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}


class BadRequest(HTTPError, status=400, code="bad_request"): ...


class Unauthorized(HTTPError, status=401, code="unauthorized"): ...


class Forbidden(HTTPError, status=403, code="forbidden"): ...


class NotFound(HTTPError, status=404, code="not_found"): ...


class MethodNotAllowed(HTTPError, status=405, code="method_not_allowed"): ...


class RequestTimeout(HTTPError, status=408, code="request_timeout"): ...


class Conflict(HTTPError, status=409, code="conflict"): ...


class PayloadTooLarge(HTTPError, status=413, code="payload_too_large"): ...


class UnsupportedMediaType(HTTPError, status=415, code="unsupported_media_type"): ...


class UnprocessableEntity(HTTPError, status=422, code="validation_error"):
    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        details = kwargs.pop("details", None) or {}
        if field is not None:
            details.setdefault("field", field)
        super().__init__(message, details=details, **kwargs)


class TooManyRequests(HTTPError, status=429, code="rate_limited"):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        headers = kwargs.pop("headers", None) or {}
        if retry_after is not None:
            headers["retry-after"] = str(max(1, int(retry_after + 0.999)))
        super().__init__(message, headers=headers, **kwargs)


class ServiceUnavailable(HTTPError, status=503, code="service_unavailable"): ...


class GatewayTimeout(HTTPError, status=504, code="gateway_timeout"): ...


# The statuses defined above (before any other module subclasses HTTPError).
STATUS_CODES: dict[int, str] = {cls.status: cls.code for cls in HTTPError.__subclasses__()}


def error_for_status(status: int, message: str) -> HTTPError:
    """An HTTPError of any status: for the errors Starlette raises (a 404 route, a 400 form)."""
    err = HTTPError(message, code=STATUS_CODES.get(status, "error"))
    err.status = status
    return err
