"""Resource ids: random UUIDs as text, and the check that a path's id could be one of ours."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())


def parse_uuid(value: str) -> uuid.UUID | None:
    """The UUID in `value`, None when it is not one (a lookup of it then finds nothing)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def is_uuid(value: str) -> bool:
    return parse_uuid(value) is not None
