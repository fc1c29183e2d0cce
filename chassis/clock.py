"""The one wall clock: timezone-aware UTC, the only kind stored or compared."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
