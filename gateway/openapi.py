"""The merged `/openapi.json` (each service's spec fetched over the bus) and `/docs`."""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any

import structlog

from chassis.bridge import BusClient
from chassis.errors import HTTPError
from chassis.openapi import OpenAPI, merge

log = structlog.get_logger("gateway.openapi")
CACHE_SECONDS = 10.0


def docs_page() -> bytes:
    return resources.files("gateway").joinpath("docs.html").read_bytes()


class MergedSpec:
    def __init__(self, bus: BusClient, services: list[str], own: OpenAPI) -> None:
        self.bus = bus
        self.services = services
        self.own = own
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def document(self) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        docs = await asyncio.gather(*(self._fetch(s) for s in self.services))
        found = [d for d in docs if d is not None]
        merged = merge([self.own.document(), *found], title="Persona Community API", version=self.own.version)
        missing = [s for s, d in zip(self.services, docs, strict=True) if d is None]
        if missing:
            merged["info"]["x-unavailable-services"] = missing
        else:
            self._cached = (time.monotonic(), merged)
        return merged

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        try:
            reply = await self.bus.call(service, "GET", "/openapi.json", timeout=5.0)
        except HTTPError:
            log.warning("service spec unavailable", service=service)
            return None
        if reply.status != 200:
            return None
        doc: dict[str, Any] = reply.json()
        return doc
