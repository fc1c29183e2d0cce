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

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, safe to log."""
        out = msgspec.structs.asdict(self)
        for name in SECRET_FIELDS & out.keys():
            if out[name]:
                out[name] = "***"
        if out.get("database_url"):
            out["database_url"] = _mask_url(out["database_url"])
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
