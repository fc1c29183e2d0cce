"""Public profiles (display name, bio) live in auth_svc; this asks it over the bus.

Names shown beside personas and in notifications are a nicety: they are looked up
best-effort (cached briefly, no waiting for a missing auth_svc) and a failure leaves
them out. A profile page or a follow needs the user to exist, so there a missing
auth_svc is a 503.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import msgspec
import structlog

from chassis.bridge import BusClient
from chassis.errors import HTTPError, ServiceUnavailable
from proto.identity import Identity
from proto.personas import PublicUser, UserLookup

log = structlog.get_logger("persona_svc.profiles")
AUTH = "auth"


def _users(data: Any) -> list[PublicUser]:
    """auth_svc's lookup answer: a list of users, or an object holding one under `users`/`items`."""
    if isinstance(data, dict):
        data = data.get("users", data.get("items", list(data.values()) if data else []))
    if not isinstance(data, list):
        return []
    found = []
    for item in data:
        try:
            found.append(msgspec.convert(item, PublicUser, strict=False))
        except msgspec.ValidationError:
            continue
    return found


class Profiles:
    def __init__(
        self, bus: BusClient, quick_bus: BusClient, *, ttl: float = 30.0, timeout: float = 3.0
    ) -> None:
        self.bus = bus
        # The same connection without the no-responders retry, for lookups that may be skipped.
        self.quick_bus = quick_bus
        self.ttl = ttl
        self.timeout = timeout
        self._names: dict[str, tuple[float, str]] = {}

    async def get(self, user_id: str, identity: Identity | None) -> PublicUser | None:
        """The user's public profile, None when auth_svc does not know them."""
        reply = await self.bus.call(
            AUTH, "GET", f"/auth/users/{user_id}", identity=identity, timeout=self.timeout
        )
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise ServiceUnavailable(f"could not read the profile (auth answered {reply.status})")
        try:
            user = msgspec.convert(reply.json().get("data"), PublicUser, strict=False)
        except (msgspec.ValidationError, msgspec.DecodeError, AttributeError):
            raise ServiceUnavailable("auth answered with an unexpected profile") from None
        self._remember(user)
        return user

    def _remember(self, user: PublicUser) -> None:
        if len(self._names) > 10_000:
            self._names.clear()
        self._names[user.id] = (time.monotonic() + self.ttl, user.display_name)

    async def names(self, user_ids: Iterable[str], identity: Identity | None = None) -> dict[str, str]:
        """Display names of the users auth_svc could tell (best effort)."""
        now = time.monotonic()
        wanted = set(user_ids)
        found = {uid: entry[1] for uid in wanted if (entry := self._names.get(uid)) and entry[0] > now}
        missing = sorted(wanted - found.keys())
        if not missing:
            return found
        try:
            reply = await self.quick_bus.call(
                AUTH,
                "POST",
                "/auth/users/lookup",
                json=UserLookup(ids=missing),
                identity=identity,
                timeout=2.0,
            )
            users = _users(reply.json().get("data")) if reply.status == 200 else []
        except (HTTPError, msgspec.DecodeError, AttributeError) as exc:
            log.info("display names unavailable", error=repr(exc))
            return found
        for user in users:
            self._remember(user)
            found[user.id] = user.display_name
        return found

    async def name(self, user_id: str, identity: Identity | None = None, default: str = "") -> str:
        return (await self.names([user_id], identity)).get(user_id) or default
