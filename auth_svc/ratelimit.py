"""Fixed-window counters in the `auth_rate` JetStream bucket, shared by every auth_svc replica.

A counter key is `<scope>.<sha256(subject)>.<window number>`; it is incremented with a
compare-and-set on its revision, so concurrent replicas never lose a hit. The bucket's
max age (two windows) removes old counters. Subjects (emails, addresses) are hashed so
the bucket holds no personal data.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from nats.js import JetStreamContext, api
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from chassis.bus import ensure_kv
from chassis.settings import Settings
from proto.auth import KV_RATE

CAS_TRIES = 20


class RateLimiter:
    def __init__(self, kv: KeyValue, window: float, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.window = window
        self.clock = clock

    async def hit(self, scope: str, subject: str, limit: int) -> float | None:
        """Count one hit; returns seconds until the window ends when over `limit`, else None."""
        now = self.clock()
        number = int(now // self.window)
        digest = hashlib.sha256(subject.encode()).hexdigest()[:40]
        key = f"{scope}.{digest}.{number}"
        count = await self._increment(key)
        if count <= limit:
            return None
        return (number + 1) * self.window - now

    async def _increment(self, key: str) -> int:
        for _ in range(CAS_TRIES):
            try:
                await self.kv.create(key, b"1")
                return 1
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self.kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                continue
            count = int(entry.value or b"0") + 1
            try:
                await self.kv.update(key, str(count).encode(), last=entry.revision)
                return count
            except KeyWrongLastSequenceError:
                continue
        raise RuntimeError(f"rate counter {key} too contended")


async def open_limiter(settings: Settings, js: JetStreamContext) -> RateLimiter:
    kv = await ensure_kv(
        js,
        api.KeyValueConfig(
            bucket=KV_RATE,
            history=1,
            ttl=2 * settings.login_rate_window,
            replicas=settings.js_replicas,
            storage=api.StorageType.FILE,
        ),
    )
    return RateLimiter(kv, settings.login_rate_window)
