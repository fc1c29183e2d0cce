"""Identity helpers: the gateway verified the caller; services only read the result."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from chassis.errors import Forbidden, Unauthorized
from proto.identity import Identity

SCOPE_KEY = "identity"


def current_identity(request: HTTPConnection) -> Identity | None:
    identity = request.scope.get(SCOPE_KEY)
    return identity if isinstance(identity, Identity) else None


def require_user(request: HTTPConnection) -> Identity:
    identity = current_identity(request)
    if identity is None:
        raise Unauthorized("sign in first: this endpoint needs an access token or API key")
    return identity


def require_admin(request: HTTPConnection) -> Identity:
    identity = require_user(request)
    if not identity.is_admin:
        raise Forbidden("this endpoint is for administrators")
    return identity
