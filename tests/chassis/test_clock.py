"""The clock answers aware UTC times: stored and compared alike in every service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chassis.clock import utcnow


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)
