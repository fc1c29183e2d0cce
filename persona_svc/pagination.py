"""Opaque keyset cursors: the sort key of the last row of a page, never an offset.

A cursor is the base64url of a small JSON array whose first element names the key
kind, so a cursor from one ordering is refused by another. Each page asks for rows
strictly after the key, so rows inserted meanwhile can never shift a page (no
duplicates, no gaps), which an OFFSET would.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TypeVar

import msgspec

from chassis.errors import UnprocessableEntity


class NewKey(msgspec.Struct, array_like=True, tag="n"):
    """Newest first: `(created_at, id)` descending."""

    created_at: datetime
    id: str


class TopKey(msgspec.Struct, array_like=True, tag="t"):
    """Most liked first: `(like_count, id)` descending."""

    like_count: int
    id: str


class TrendKey(msgspec.Struct, array_like=True, tag="r"):
    """Trending: `(score, id)` descending, scores frozen at `as_of` for every page."""

    as_of: datetime
    score: int
    id: str


class ActivityKey(msgspec.Struct, array_like=True, tag="a"):
    """Conversations, latest activity first: `(last_activity_at, id)` descending."""

    last_activity_at: datetime
    id: str


class SeqKey(msgspec.Struct, array_like=True, tag="s"):
    """Messages, newest first: `seq` descending."""

    seq: int


class ReportKey(msgspec.Struct, array_like=True, tag="m"):
    """Moderation queue, latest report first: `(last_reported_at, id)` descending."""

    last_reported_at: datetime
    id: str


Key = NewKey | TopKey | TrendKey | ActivityKey | SeqKey | ReportKey
K = TypeVar("K", NewKey, TopKey, TrendKey, ActivityKey, SeqKey, ReportKey)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Key)


def encode(key: Key) -> str:
    return base64.urlsafe_b64encode(_encoder.encode(key)).rstrip(b"=").decode()


def decode(cursor: str | None, kind: type[K]) -> K | None:
    """The key inside `cursor`, or None for the first page; 422 (field `cursor`) when it is not ours."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = _decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise UnprocessableEntity(
            "cursor is not valid: pass meta.next_cursor as is", field="cursor"
        ) from None
    if not isinstance(key, kind):
        raise UnprocessableEntity("cursor belongs to another ordering or list", field="cursor")
    return key
