"""Public profiles (display name, bio) live in auth_svc; this asks it over the bus.

Names shown beside personas and in notifications are a nicety: they are looked up
best-effort (cached briefly, no waiting for a missing auth_svc) and a failure leaves
them out. A profile page or a follow needs the user to exist, so there a missing
auth_svc is a 503.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog

from chassis.bridge import BusClient
from chassis.calls import BusCallError, BusError
from chassis.errors import HTTPError, ServiceUnavailable
from proto.identity import Identity
from proto.personas import PublicUser, UserLookup

log = structlog.get_logger("persona_svc.profiles")
AUTH = "auth"


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
        try:
            user = await self.bus.fetch(
                AUTH, "GET", f"/auth/users/{user_id}", PublicUser, identity=identity, timeout=self.timeout
            )
        except BusCallError as exc:
            if exc.status == 404:
                return None
            raise ServiceUnavailable(f"could not read the profile (auth answered {exc.status})") from None
        except BusError:
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
            users = await self.quick_bus.fetch(
                AUTH,
                "POST",
                "/auth/users/lookup",
                list[PublicUser],
                json=UserLookup(ids=missing),
                identity=identity,
                timeout=2.0,
            )
        except (HTTPError, BusError) as exc:
            log.info("display names unavailable", error=repr(exc))
            return found
        for user in users:
            self._remember(user)
            found[user.id] = user.display_name
        return found

    async def name(self, user_id: str, identity: Identity | None = None, default: str = "") -> str:
        return (await self.names([user_id], identity)).get(user_id) or default
