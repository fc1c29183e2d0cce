"""Every component of the mesh: what `make dev` starts and `make discover` lists."""

from __future__ import annotations

from dataclasses import dataclass

from proto import subjects as s


@dataclass(frozen=True)
class Component:
    name: str
    kind: str
    module: str
    path: str
    health_offset: int  # health port = base + offset - 1 (8001+; the gateway's comes after the others')
    subjects: tuple[str, ...]


COMPONENTS: tuple[Component, ...] = (
    Component(
        "gateway",
        "gateway",
        "gateway",
        "gateway/",
        5,
        (
            f"{s.http_subject('*')} (requests)",
            f"{s.LIVE_PREFIX}.{s.EVENTS_ALL} (SSE)",
            f"$KV.{s.KV_REVOKED}.>",
        ),
    ),
    Component(
        "auth_svc", "service", "auth_svc", "auth_svc/", 1, (s.http_subject("auth"), s.rpc_subject("auth"))
    ),
    Component(
        "persona_svc",
        "service",
        "persona_svc",
        "persona_svc/",
        2,
        (
            s.http_subject("persona"),
            s.rpc_subject("persona"),
            s.RESULTS_CHAT,
            s.RESULTS_DRAFT,
            s.RESULTS_ROOM,
        ),
    ),
    Component(
        "media_svc",
        "service",
        "media_svc",
        "media_svc/",
        3,
        (s.http_subject("media"), s.rpc_subject("media"), s.RESULTS_MEDIA),
    ),
    Component(
        "generation_worker",
        "worker",
        "generation_worker",
        "generation_worker/",
        4,
        (*s.JOB_SUBJECTS, f"{s.CONTROL_CANCEL_PREFIX}.*", s.CONTROL_WARMUP_CHAT, s.JOBS_DEAD),
    ),
)


def health_port(component: Component, health_base: int) -> int:
    """Where the component serves `/healthz`, `/readyz` and `/metrics` (the gateway's public port
    answers the two probes too, never `/metrics`)."""
    return health_base + component.health_offset - 1


# Started by `make dev` only when no text model is configured (no LLM_BASE_URL, TEXT_PROVIDER not
# offline): llama.cpp's OpenAI-compatible server on loopback, the worker's LLM_BASE_URL.
MODEL_SERVER = Component(
    "model_server",
    "model",
    "model_server",
    "model_server/",
    len(COMPONENTS) + 1,
    ("- (OpenAI-compatible HTTP on 127.0.0.1: the worker's LLM_BASE_URL)",),
)
