"""Passwords: bcrypt through `bcrypt` directly (cost `PASSWORD_HASH_COST`, 12), 8 to 72 bytes of
UTF-8, never truncated."""

from __future__ import annotations

import asyncio
import functools

import bcrypt

from chassis.errors import UnprocessableEntity

COST = 12
# bcrypt's own floor; test suites use it to spend less CPU per sign-up (never in production).
MIN_COST = 4
MIN_BYTES = 8
# bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut.
MAX_BYTES = 72


def check_length(password: str, field: str = "password") -> bytes:
    raw = password.encode("utf-8")
    if len(raw) < MIN_BYTES:
        raise UnprocessableEntity(f"{field} must be at least {MIN_BYTES} bytes", field=field)
    if len(raw) > MAX_BYTES:
        raise UnprocessableEntity(
            f"{field} must be at most {MAX_BYTES} bytes of UTF-8 (it has {len(raw)})", field=field
        )
    return raw


async def hash_password(password: str, cost: int = COST) -> str:
    raw = check_length(password)
    # About a quarter of a second of CPU at cost 12: off the event loop.
    hashed = await asyncio.to_thread(bcrypt.hashpw, raw, bcrypt.gensalt(max(cost, MIN_COST)))
    return hashed.decode("ascii")


@functools.cache
def _dummy(cost: int) -> bytes:
    """Checked when the account does not exist or has no password, so that an unknown
    email costs the same time as a wrong password."""
    return bcrypt.hashpw(b"no account has this password", bcrypt.gensalt(max(cost, MIN_COST)))


async def verify_password(password: str, hashed: str | None, cost: int = COST) -> bool:
    raw = password.encode("utf-8")

    def check() -> bool:
        if hashed is None or len(raw) > MAX_BYTES:
            # Never equal to a stored password; spend the same time as a real check.
            bcrypt.checkpw(b"not the password", _dummy(cost))
            return False
        return bcrypt.checkpw(raw, hashed.encode("ascii"))

    return await asyncio.to_thread(check)


async def warm_up(cost: int = COST) -> None:
    await asyncio.to_thread(_dummy, cost)
