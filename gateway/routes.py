"""The one table that maps public path prefixes to services on the bus."""

from __future__ import annotations

from collections.abc import Iterable

ROUTES: tuple[tuple[str, str], ...] = (
    ("/auth", "auth"),
    ("/personas", "persona"),
    ("/users", "persona"),
    ("/feed", "persona"),
    ("/conversations", "persona"),
    ("/media", "media"),
)


class RouteTable:
    def __init__(self, routes: Iterable[tuple[str, str]] = ROUTES) -> None:
        # Longest prefix first, so `/media/x` never falls to a shorter `/m`.
        self.routes = sorted(routes, key=lambda r: len(r[0]), reverse=True)

    def resolve(self, path: str) -> str | None:
        for prefix, service in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return service
        return None

    def services(self) -> list[str]:
        return sorted({service for _, service in self.routes})
