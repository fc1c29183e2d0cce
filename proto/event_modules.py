"""Imports every proto module that defines events, so `all_events()` sees them all."""

from __future__ import annotations

from proto import chat, jobs, media, personas, rooms  # noqa: F401
