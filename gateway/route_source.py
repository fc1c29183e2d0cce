"""Keeps the route table in step with the services: each service's OpenAPI document is fetched
over the bus when first needed and re-read in the background every GATEWAY_ROUTES_REFRESH
seconds. A service whose document was never read has no routes: its requests get 503 with
their body unread (fail closed), never a guess."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import structlog

from chassis.bridge import BusClient
from chassis.errors import HTTPError, ServiceUnavailable
from gateway.routes import Operation, RouteTable

log = structlog.get_logger("gateway.routes")
FETCH_TIMEOUT = 5.0
_document_decoder = msgspec.json.Decoder(dict[str, Any])


async def service_document(
    bus: BusClient, service: str, timeout: float = FETCH_TIMEOUT
) -> dict[str, Any] | None:
    """A service's OpenAPI document (`GET /openapi.json`, a bare document, not in the `data`
    envelope); None, logged, when it cannot be read."""
    try:
        reply = await bus.call(service, "GET", "/openapi.json", timeout=timeout)
    except HTTPError:
        log.warning("service document unavailable", service=service)
        return None
    if reply.status != 200:
        log.warning("service document unavailable", service=service, status=reply.status)
        return None
    try:
        return _document_decoder.decode(reply.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.warning("service document is not a JSON object", service=service)
        return None


class RouteSource:
    def __init__(self, bus: BusClient, table: RouteTable, refresh: float) -> None:
        self.bus = bus
        self.table = table
        self.refresh = refresh
        self._loaded_at: dict[str, float] = {}
        self._tried_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def operation(self, service: str, method: str, path: str) -> Operation:
        loaded_at = self._loaded_at.get(service)
        if loaded_at is None:
            await self.load(service)
            if not self.table.loaded(service):
                raise ServiceUnavailable(
                    f"the {service} service's routes are not known yet; retry shortly",
                    details={"service": service},
                )
        elif time.monotonic() - loaded_at > self.refresh and service not in self._refreshing:
            # Stale while revalidating: this request uses the table it has.
            task = asyncio.create_task(self.load(service))
            self._refreshing[service] = task
            task.add_done_callback(lambda _: self._refreshing.pop(service, None))
        return self.table.match(service, method, path)

    async def load(self, service: str) -> None:
        """Read `service`'s document once, however many requests wait for it."""
        lock = self._locks.setdefault(service, asyncio.Lock())
        started = time.monotonic()
        async with lock:
            if self._tried_at.get(service, -1.0) >= started:
                return  # read (or found unreachable) while this caller waited
            document = await service_document(self.bus, service)
            self._tried_at[service] = time.monotonic()
            if document is not None:
                self.table.load(service, document)
                self._loaded_at[service] = time.monotonic()

    async def stop(self) -> None:
        for task in list(self._refreshing.values()):
            task.cancel()
