"""Settings, read once from the environment into a frozen object.

Each field is read from the upper-cased environment variable of the same name
(`nats_url` ← `NATS_URL`). `docs/operations.md` lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

SECRET_FIELDS = frozenset(
    {"llm_api_key", "notify_api_key", "s3_secret_access_key", "media_url_secret", "jwt_private_keys"}
)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Bus
    nats_url: str = "nats://127.0.0.1:4222"
    js_replicas: int = 1
    request_timeout: float = 30.0
    # How long a request keeps retrying when no replica of its service is subscribed.
    no_responders_retry: float = 1.0
    body_threshold: int = 256 * 1024
    events_max_age: float = 2 * 3600.0
    events_max_bytes: int = 1024 * 1024 * 1024
    access_token_ttl: float = 900.0
    # Gateway
    host: str = "127.0.0.1"
    port: int = 8000
    tls_cert: str | None = None
    tls_key: str | None = None
    public_url: str = "http://localhost:8000"
    web_dir: str = "web"
    # Health server of a service or the worker (0: no health server).
    health_port: int = 0
    # Storage of state
    database_url: str | None = None
    db_pool_min: int = 1
    db_pool_max: int = 10
    data_dir: str = ".data"
    # Logging
    log_level: str = "info"
    log_json: bool = True
    # Jobs (generation_worker and result consumers)
    job_ack_wait: float = 30.0
    job_max_deliver: int = 5
    job_backoff_base: float = 1.0
    worker_shutdown_grace: float = 20.0
    worker_chat_concurrency: int = 16
    worker_draft_concurrency: int = 4
    worker_media_concurrency: int = 2
    # Text generation: "offline" (deterministic, no model) or "openai" (any OpenAI-compatible server)
    text_provider: str = "offline"
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 60.0
    # Auth
    jwt_issuer: str = "persona-community"
    jwt_audience: str = "persona-api"
    jwt_private_keys: str | None = None
    refresh_token_ttl: float = 30 * 24 * 3600.0
    code_ttl: float = 600.0
    code_max_attempts: int = 5
    login_rate_per_email: int = 10
    login_rate_per_client: int = 30
    login_rate_window: float = 300.0
    api_key_cache_ttl: float = 5.0
    dev_user_email: str | None = None
    dev_user_password: str | None = None
    notify_url: str | None = None
    notify_api_key: str | None = None
    notify_host: str | None = None
    notify_from: str = "Persona Community <no-reply@persona.community>"
    # SSE
    sse_ticket_ttl: float = 30.0
    sse_heartbeat: float = 15.0
    sse_queue_size: int = 256
    # Media
    storage: str = "local"
    media_url_secret: str | None = None
    media_url_ttl: float = 3600.0
    max_image_bytes: int = 20 * 1024 * 1024
    max_video_bytes: int = 500 * 1024 * 1024
    max_image_pixels: int = 80_000_000
    max_generations_per_user: int = 2
    image_provider: str = "procedural"
    image_model: str = "gpt-image-1"
    video_provider: str = "slideshow"
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_public_base_url: str | None = None

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, safe to log."""
        out = msgspec.structs.asdict(self)
        for name in SECRET_FIELDS & out.keys():
            if out[name]:
                out[name] = "***"
        for name in ("database_url", "nats_url"):
            if out.get(name):
                out[name] = ",".join(_mask_url(u) for u in out[name].split(","))
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            value = env.get(name.upper())
            if value is not None and value != "":
                raw[name] = value
        raw.update(overrides)
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"invalid setting: {exc}") from None


def _mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
