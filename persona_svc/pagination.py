"""The keys of persona_svc's keyset cursors, one tagged Struct per ordering (`chassis/cursors.py`
encodes and checks them)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from chassis.cursors import Cursors


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
_cursors = Cursors(Key)
encode = _cursors.encode
decode = _cursors.decode
