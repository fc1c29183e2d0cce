"""The durable consumers persona_svc runs: chat results, draft results, and dead jobs.

Each is acked only after its message is stored and its ending event published (state before
event, docs/events.md), retried while the database is unavailable, and handled idempotently by
job id, so a redelivery or a duplicate publish stores nothing twice and announces nothing twice.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chassis.subscribers import Subscriber
from persona_svc.chat import ChatService
from persona_svc.service import PersonaService
from proto.chat import chat_result_decoder
from proto.jobs import DeadLetter
from proto.personas import draft_result_decoder
from proto.subjects import JOBS_DEAD, RESULTS_CHAT, RESULTS_DRAFT

DURABLE_CHAT = "persona-results-chat"
DURABLE_DRAFT = "persona-results-draft"
DURABLE_DEAD = "persona-dead-jobs"
CONCURRENCY = 8


def subscribers(personas: PersonaService, chat: ChatService) -> list[Subscriber[Any]]:
    return [
        Subscriber(
            subject=RESULTS_CHAT,
            durable=DURABLE_CHAT,
            decoder=chat_result_decoder,
            handler=chat.on_result,
            concurrency=CONCURRENCY,
        ),
        Subscriber(
            subject=RESULTS_DRAFT,
            durable=DURABLE_DRAFT,
            decoder=draft_result_decoder,
            handler=personas.on_draft_result,
            concurrency=CONCURRENCY,
        ),
        Subscriber(
            subject=JOBS_DEAD,
            durable=DURABLE_DEAD,
            decoder=msgspec.json.Decoder(DeadLetter),
            handler=chat.on_dead_letter,
            concurrency=CONCURRENCY,
        ),
    ]
