"""Every job kind the worker consumes. Each kind module exposes `kind(settings)` or `kinds(settings)`."""

from __future__ import annotations

from chassis.settings import Settings
from generation_worker.kinds import JobKind


def job_kinds(settings: Settings) -> list[JobKind]:
    kinds: list[JobKind] = []
    return kinds
