"""The probes' bodies (`/healthz`, `/readyz`): plain JSON for load balancers and orchestrators,
never the API envelope."""

from __future__ import annotations

from typing import Literal

import msgspec


class Liveness(msgspec.Struct, kw_only=True):
    """`GET /healthz`: the process is alive."""

    status: Literal["alive"] = "alive"
    component: str


class Readiness(msgspec.Struct, kw_only=True):
    """`GET /readyz`: 200 when every check is `ok`, 503 otherwise (the failing check says why)."""

    status: Literal["ready", "not ready"]
    component: str
    checks: dict[str, str] = {}
