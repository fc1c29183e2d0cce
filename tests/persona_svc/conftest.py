"""Fixtures for persona_svc: both stores, and the service on a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from auth_svc.app import create_app as create_auth
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from generation_worker.app import create_app as create_worker
from media_svc.app import create_app as create_media
from persona_svc.app import MIGRATIONS
from persona_svc.app import create_app as create_persona
from persona_svc.store import Store
from persona_svc.store_memory import MemoryStore
from persona_svc.store_pg import PgStore
from tests.support.mesh import Mesh, RunningApp, client
from tests.support.pg import STORE_KINDS, Stores, migrated_database
from tests.support.users import User, sign_up

TABLES = (
    "personas",
    "likes",
    "follows",
    "reports",
    "drafts",
    "conversations",
    "messages",
    "generations",
    "user_personas",
    "user_settings",
)


@pytest.fixture(scope="module")
async def persona_db(postgres_url: str) -> str:
    """One migrated database per test module."""
    return await migrated_database(postgres_url, "persona", MIGRATIONS)


STORES = Stores[Store](MemoryStore, PgStore, TABLES)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, persona_db: str) -> AsyncIterator[Store]:
    async with STORES.open(request.param, persona_db) as chosen:
        yield chosen


ADMIN_EMAIL = "moderator@example.com"
PASSWORD = "correct horse battery"


@dataclass
class Site:
    """The mesh through the gateway: auth_svc, persona_svc, the worker (and media_svc when asked)."""

    settings: Settings
    mesh: Mesh
    http: httpx.AsyncClient
    persona: RunningApp
    worker: RunningApp | None

    async def user(self, name: str = "tester") -> User:
        return await sign_up(self.http, name)

    async def users(self, count: int, name: str = "fan") -> list[User]:
        gate = asyncio.Semaphore(4)

        async def one(i: int) -> User:
            async with gate:
                return await sign_up(self.http, f"{name}{i}")

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def admin(self) -> User:
        r = await self.http.post(
            "/auth/register", json={"email": ADMIN_EMAIL, "password": PASSWORD, "display_name": "Moderator"}
        )
        assert r.status_code == 201, r.text
        data = r.json()["data"]
        return User(data["user"]["id"], ADMIN_EMAIL, PASSWORD, data["access_token"], data["refresh_token"])


SiteFactory = Callable[..., Awaitable[Site]]


@pytest.fixture
async def start_site(make_settings: Callable[..., Settings]) -> AsyncIterator[SiteFactory]:
    started: list[Site] = []

    async def start(*, worker: bool = True, media: bool = False, **overrides: Any) -> Site:
        options: dict[str, Any] = {"admin_emails": ADMIN_EMAIL, "offline_token_delay": 0.0}
        options.update(overrides)
        settings = make_settings(**options)
        m = Mesh(settings)
        try:
            await m.app(create_auth(settings))
            persona = await m.app(create_persona(settings))
            if media:
                await m.app(create_media(settings))
            running_worker = await m.app(create_worker(settings)) if worker else None
            # Media URLs name PUBLIC_URL: a test that sets it gets its gateway there.
            port = urlsplit(settings.public_url).port if "public_url" in overrides else None
            gateway = await m.server(create_gateway(settings), port=port)
        except BaseException:
            await m.close()
            raise
        site = Site(settings, m, client(gateway.url), persona, running_worker)
        started.append(site)
        return site

    try:
        yield start
    finally:
        for site in reversed(started):
            await site.http.aclose()
            await site.mesh.close()


@pytest.fixture
async def site(start_site: SiteFactory) -> Site:
    return await start_site()
