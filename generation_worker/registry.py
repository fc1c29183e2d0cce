"""Every job kind the worker consumes. Each kind module exposes `kind(settings)` or `kinds(settings)`."""

from __future__ import annotations

from chassis.settings import Settings
from generation_worker import chat, drafts
from generation_worker.kinds import JobKind
from generation_worker.media import jobs as media_jobs


def job_kinds(settings: Settings) -> list[JobKind]:
    kinds: list[JobKind] = []
    kinds.append(chat.kind(settings))
    kinds.append(drafts.kind(settings))
    kinds += media_jobs.kinds(settings)
    return kinds
