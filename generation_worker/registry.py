"""Every job kind the worker consumes. Each kind module exposes `kind(settings)` or `kinds(settings)`."""

from __future__ import annotations

from chassis.settings import Settings
from generation_worker import chat, drafts
from generation_worker.gate import ModelGate
from generation_worker.kinds import JobKind
from generation_worker.media import jobs as media_jobs
from generation_worker.providers.text import create_text_provider


def job_kinds(settings: Settings) -> list[JobKind]:
    kinds: list[JobKind] = []
    if settings.text_provider == drafts.OFFLINE:
        kinds.append(chat.kind(settings))
        kinds.append(drafts.kind(settings))
    else:
        # Chats and drafts share the model's slots (LLM_PARALLEL), and one client for it.
        gate = ModelGate(settings.llm_parallel)
        provider = create_text_provider(settings)
        kinds.append(chat.kind(settings, provider, gate))
        kinds.append(drafts.kind(settings, provider, gate, close=False))
    kinds += media_jobs.kinds(settings)
    return kinds
