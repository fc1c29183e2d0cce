"""Gateway features served in the gateway itself (not forwarded to a service).

A plugin answers the paths under its `prefixes`; it is started after the gateway's
NATS connection exists and stopped before it closes. `default_plugins()` is the
list `python -m gateway` runs with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chassis.settings import Settings
from gateway.asgi import Receive, Scope, Send
from gateway.media_files import MediaFiles
from gateway.sse import EventsPlugin

if TYPE_CHECKING:
    from gateway.app import Gateway


class Plugin(Protocol):
    prefixes: tuple[str, ...]

    async def start(self, gateway: Gateway) -> None: ...

    async def stop(self) -> None: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


def matches(plugin: Plugin, path: str) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in plugin.prefixes)


def default_plugins(settings: Settings) -> list[Plugin]:
    plugins: list[Plugin] = []
    plugins.append(EventsPlugin(settings))
    if settings.storage == "local":
        plugins.append(MediaFiles(settings))
    return plugins
