"""Per-request context carried in contextvars (request id) so helpers need no request."""

from __future__ import annotations

import contextvars
import random

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    # Only for finding a request in the logs, never a secret (a client may choose its own):
    # no system call per request, as a cryptographic token would make.
    return f"{random.getrandbits(64):016x}"


def valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_." for c in value)
