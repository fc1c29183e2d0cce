"""Settings, read once from the environment into a frozen object.

Each field is read from the upper-cased environment variable of the same name
(`nats_url` ← `NATS_URL`). `docs/operations.md` lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

SECRET_FIELDS = frozenset(
    {
        "llm_api_key",
        "notify_api_key",
        "s3_secret_access_key",
        "media_url_secret",
        "jwt_private_keys",
        "image_api_key",
    }
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
    # Its ASGI server (gateway/servers.py; docs/operations.md compares them).
    gateway_server: Literal["hypercorn", "uvicorn", "granian"] = "hypercorn"
    host: str = "127.0.0.1"
    port: int = 8000
    tls_cert: str | None = None
    tls_key: str | None = None
    public_url: str = "http://localhost:8000"
    web_dir: str = "web"
    # The gateway's edge (docs/operations.md, "Edge limits").
    # Comma-separated CIDRs of proxies whose X-Forwarded-For is believed (empty: never believed).
    trusted_proxies: str = ""
    # Seconds an idle keep-alive connection, or a request's head (line and headers), may take.
    gateway_keep_alive_timeout: float = 75.0
    # Largest HTTP/1.1 request head, in bytes (431 beyond).
    gateway_max_header_bytes: int = 16 * 1024
    # Longest wait for the next piece of a request body, in seconds (408 beyond).
    gateway_body_timeout: float = 60.0
    # Slowest average body rate, bytes/s, accepted once a body has taken gateway_body_timeout.
    gateway_body_min_rate: int = 1024
    # Seconds between re-reads of each service's OpenAPI document (the gateway's route table).
    gateway_routes_refresh: float = 30.0
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
    # How long a cancel request for a job no worker has taken yet is remembered.
    worker_cancel_ttl: float = 3600.0
    # Text generation: "openai" (any OpenAI-compatible server: LLM_BASE_URL, or OpenAI itself with
    # LLM_API_KEY) or "offline" (deterministic, no model: chosen explicitly, e.g. for tests).
    # `make dev` starts an embedded model server and points LLM_BASE_URL at it.
    text_provider: str = "openai"
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 60.0
    # Replies the worker sends to the text model at once (the embedded server's parallel slots);
    # more wait in the worker, in order, and their clients get `ai_chat_queued`.
    llm_parallel: int = 2
    # Role-play sampling sent with each chat request when set (top_p is OpenAI's; min_p and
    # repeat_penalty are understood by llama.cpp, vLLM and Ollama). `make dev` sets all three.
    llm_top_p: float | None = None
    llm_min_p: float | None = None
    llm_repeat_penalty: float | None = None
    # How many times a chat reply that breaks character (claims to be an AI, copies its
    # instructions) is stopped and asked again (generation_worker.character); 0: kept as written.
    llm_character_retakes: Annotated[int, msgspec.Meta(ge=0)] = 3
    # How a retake's answer starts: sent as a final assistant message for the server to continue
    # (llama.cpp's server and Ollama do; OpenAI's API does not: leave it empty there). `make dev`: "*".
    llm_retake_prefill: str = ""
    # When a conversation opens, have the model read its prompt while the person types its first
    # message (a 1-token request): the first reply then starts from the server's prompt cache.
    # For servers that cache prompts (llama.cpp, vLLM, Ollama); a paid API would bill each one.
    # `make dev` turns it on.
    llm_warmup: bool = False
    # Embedded model server (`make dev`, when neither LLM_BASE_URL nor TEXT_PROVIDER=offline is set):
    # a packaged model's name (docs/models.md) or the path of a GGUF file.
    model_server_model: str = "qwen2.5-coder-1.5b-instruct"
    # Its loopback port (0: a free one); its threads (0: every core); context tokens per slot.
    model_server_port: int = 0
    model_server_threads: int = 0
    model_server_context: int = 4096
    # Ask OpenAI-compatible servers for token usage in the stream (turn off for servers that reject it).
    llm_stream_usage: bool = True
    # Pace of the offline provider's tokens (seconds), so its replies stream like a model's.
    offline_token_delay: float = 0.02
    # Auth
    # bcrypt cost of stored passwords (12; the test suite lowers it to bcrypt's floor, 4, to save CPU).
    password_hash_cost: int = 12
    jwt_issuer: str = "persona-community"
    jwt_audience: str = "persona-api"
    jwt_private_keys: str | None = None
    refresh_token_ttl: float = 30 * 24 * 3600.0
    # Seconds a just-rotated refresh token may be presented again (two tabs refreshing at once)
    # and get a new pair of the same session; later, presenting it revokes the session.
    refresh_reuse_grace: float = 10.0
    code_ttl: float = 600.0
    code_max_attempts: int = 5
    login_rate_per_client: int = 30
    login_rate_window: float = 300.0
    api_key_cache_ttl: float = 5.0
    dev_user_email: str | None = None
    dev_user_password: str | None = None
    notify_url: str | None = None
    notify_api_key: str | None = None
    notify_host: str | None = None
    notify_from: str = "Persona Community <no-reply@persona.community>"
    # Delivery attempts of one notify POST (retried on network errors, 429 and 5xx) and its timeout.
    notify_attempts: int = 4
    notify_timeout: float = 10.0
    # Codes, magic links and reset mails sent per address per login_rate_window (more are dropped, still 202).
    code_send_per_email: int = 5
    # Sign-up (docs/auth.md): "email" answers every sign-up alike and creates the account when
    # the emailed code is verified; "none" creates it at once (201, 409 for a taken address).
    signup_confirmation: Literal["email", "none"] = "email"
    # Sign-ups per client address and per email domain per login_rate_window (→ 429).
    signup_rate_per_client: int = 10
    signup_rate_per_domain: int = 100
    # Password failures per (email, client): free up to login_backoff_after, then a wait of
    # login_backoff_base seconds doubling with each failure, locked for login_rate_window from
    # login_lock_after; login_failures_per_email from all clients pause password sign-in.
    login_backoff_after: int = 3
    login_backoff_base: float = 1.0
    login_lock_after: int = 10
    login_failures_per_email: int = 100
    # Page a magic link opens (`?token=` appended); unset: the web UI's `{public_url}/#/magic`.
    magic_link_url: str | None = None
    # Comma-separated emails whose accounts are administrators (promoted at sign-in and at start).
    admin_emails: str = ""
    # Gateway: how often the JWKS is re-read even without an unknown `kid` (drops removed keys).
    jwks_refresh_interval: float = 300.0
    # Personas
    # Tokens (estimated at 4 characters each) a chat prompt may use, the reply's max_tokens included.
    persona_prompt_token_budget: int = 6144
    persona_reply_max_tokens: int = 512
    persona_chat_temperature: float = 0.8
    # Lorebook: how many recent messages are scanned for keys, and the tokens its entries may take.
    persona_lorebook_scan_depth: int = 4
    persona_lorebook_token_budget: int = 1024
    # Distinct users whose open reports hide a persona from listings until an admin reviews it.
    persona_report_threshold: int = 3
    # Largest character card accepted by POST /personas/import (JSON or PNG), in bytes.
    persona_card_max_bytes: int = 8 * 1024 * 1024
    # Trending: likes (weight 1) and new chats (weight 2) of the window, halving every half-life.
    persona_trending_window: float = 7 * 24 * 3600.0
    persona_trending_half_life: float = 2 * 24 * 3600.0
    # Seconds to wait for a worker to acknowledge a cancel request.
    persona_cancel_timeout: float = 2.0
    # Seed the starter personas (persona_svc/starters/) when missing, so Explore is never empty.
    seed_starters: bool = True
    # SSE
    sse_ticket_ttl: float = 30.0
    sse_heartbeat: float = 15.0
    sse_queue_size: int = 256
    sse_max_channels: int = 16
    # Concurrent GET /events per user on one gateway process (docs/events.md says why per process).
    sse_max_streams_per_user: int = 20
    # Reconnection delay suggested to EventSource clients (the `retry:` field), milliseconds.
    sse_retry_ms: int = 3000
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
    # Multipart part size for S3 writes (one part is buffered per upload; S3's minimum is 5 MiB).
    s3_part_size: int = 8 * 1024 * 1024
    # OpenAI-compatible images endpoint (falls back to LLM_BASE_URL / LLM_API_KEY when unset).
    image_base_url: str | None = None
    image_api_key: str | None = None
    image_size: str = "1024x1024"
    # Ceiling for one ffmpeg run (probe, transcode, slideshow), in seconds.
    media_ffmpeg_timeout: float = 1800.0
    # Images a slideshow video uses at most, and how long each is shown.
    slideshow_max_images: int = 8
    slideshow_seconds_per_image: float = 3.0

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
