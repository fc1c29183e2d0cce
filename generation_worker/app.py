"""The worker as a component: no HTTP API, a lifespan holding the consumers, a health port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from chassis.app import ServiceContext, create_service_app
from chassis.settings import Settings

COMPONENT = "generation_worker"


@contextlib.asynccontextmanager
async def consumers(ctx: ServiceContext) -> AsyncIterator[None]:
    yield


def create_app(settings: Settings) -> Starlette:
    return create_service_app(COMPONENT, settings, [], setup=consumers, bridge=False)
