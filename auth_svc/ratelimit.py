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
from dataclasses import KW_ONLY, dataclass

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

    async def over(self, scope: str, subject: str, limit: int) -> float | None:
        """Like `hit` without counting: seconds until the window ends when already at `limit`."""
        now = self.clock()
        number = int(now // self.window)
        digest = hashlib.sha256(subject.encode()).hexdigest()[:40]
        try:
            entry = await self.kv.get(f"{scope}.{digest}.{number}")
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if int(entry.value or b"0") < limit:
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


@dataclass
class Backoff:
    """Password failures of one (email, client) pair: free up to `after`, then a required wait
    of `base` seconds doubling with each failure, and `lock` seconds from `lock_after` on.

    One key per pair, `<scope>.<sha256(subject)>`, holding "<failures> <time of the last>";
    the bucket's max age forgets a pair two windows after its last failure. The caller answers
    a pair that must wait with 429 and does not run bcrypt: waiting is the client's, not ours.
    """

    kv: KeyValue
    _: KW_ONLY
    after: int
    base: float
    lock_after: int
    lock: float
    clock: Callable[[], float] = time.time

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure."""
        if failures >= self.lock_after:
            return self.lock
        if failures < self.after:
            return 0.0
        return min(self.lock, self.base * 2.0 ** (failures - self.after))

    async def wait(self, scope: str, subject: str) -> float | None:
        """Seconds the pair must still wait before its next try, or None."""
        failures, last = await self._read(self._key(scope, subject))
        left = last + self.delay(failures) - self.clock()
        return left if failures and left > 0 else None

    async def failed(self, scope: str, subject: str) -> int:
        """Count one failure; returns the failures so far."""
        key = self._key(scope, subject)
        for _ in range(CAS_TRIES):
            value = f"{{}} {self.clock()}"
            try:
                entry = await self.kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                try:
                    await self.kv.create(key, value.format(1).encode())
                    return 1
                except KeyWrongLastSequenceError:
                    continue
            failures = _failures(entry.value)[0] + 1
            try:
                await self.kv.update(key, value.format(failures).encode(), last=entry.revision)
                return failures
            except KeyWrongLastSequenceError:
                continue
        raise RuntimeError(f"failure counter {key} too contended")

    async def clear(self, scope: str, subject: str) -> None:
        """Forget the pair's failures (after it signed in)."""
        key = self._key(scope, subject)
        if (await self._read(key))[0]:
            await self.kv.delete(key)

    async def _read(self, key: str) -> tuple[int, float]:
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return 0, 0.0
        return _failures(entry.value)

    @staticmethod
    def _key(scope: str, subject: str) -> str:
        return f"{scope}.{hashlib.sha256(subject.encode()).hexdigest()[:40]}"


def _failures(value: bytes | None) -> tuple[int, float]:
    count, _, last = (value or b"").decode().partition(" ")
    return (int(count), float(last)) if count and last else (0, 0.0)


def open_backoff(settings: Settings, limiter: RateLimiter) -> Backoff:
    """In the rate limiter's bucket: the failures of a pair live two windows after the last."""
    return Backoff(
        limiter.kv,
        after=settings.login_backoff_after,
        base=settings.login_backoff_base,
        lock_after=settings.login_lock_after,
        lock=settings.login_rate_window,
        clock=limiter.clock,
    )
