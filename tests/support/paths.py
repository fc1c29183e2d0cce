"""Folders the tests read: the repository and the fixtures shared with the other projects."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
