"""Seeding the starter personas: the system account that owns them (auth_svc), their avatars
(uploaded through media_svc like any image) and the personas, each under its fixed id.

It runs beside persona_svc (never in the way of readiness) and retries until auth_svc and
media_svc answer. Every replica may run it at once: an id already taken, even by a deleted
persona, is skipped, and a replica that loses the race deletes the avatar it uploaded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import structlog

from chassis.bridge import BusClient
from chassis.calls import BusError
from chassis.errors import ServiceUnavailable
from chassis.settings import Settings
from persona_svc.service import PersonaService
from persona_svc.starters.catalog import AVATAR_TYPE, starters
from proto.auth import SYSTEM_USER_PATH, PublicUser, SystemUserEnsure
from proto.identity import Identity

log = structlog.get_logger("persona_svc.starters")

OWNER_HANDLE = "starters"
OWNER = SystemUserEnsure(
    display_name="Persona Community",
    bio="The starter personas, written for Persona Community. Fork one and make it yours.",
)
# persona_svc as the caller of auth_svc's internal endpoint.
SERVICE = Identity(user_id="persona", via="internal")
SEED_TASK = "seed-starters"
RETRY_FIRST = 1.0
RETRY_MAX = 30.0


async def owner_id(bus: BusClient) -> str:
    """The system account's id, created by auth_svc when missing."""
    path = SYSTEM_USER_PATH.format(handle=OWNER_HANDLE)
    try:
        return (await bus.fetch("auth", "PUT", path, PublicUser, json=OWNER, identity=SERVICE)).id
    except BusError as exc:
        raise ServiceUnavailable(f"auth answered {exc.status} for the starters' account") from None


async def seed(svc: PersonaService, bus: BusClient) -> int:
    """Create the starters that never existed; returns how many this call created."""
    owner = await owner_id(bus)
    identity = Identity(user_id=owner, via="internal")
    wanted = starters()
    existing = await svc.store.existing_persona_ids([s.persona_id for s in wanted])
    created = 0
    # Newest first in Explore: the file's first starter is created last.
    for starter in reversed(wanted):
        if starter.persona_id in existing:
            continue
        media_id = await svc.media.upload(
            identity, starter.avatar(), starter.avatar_path.name, AVATAR_TYPE, public=True
        )
        body = msgspec.structs.replace(starter.persona, avatar_media_id=media_id)
        if await svc.create_under_id(owner, starter.persona_id, body):
            created += 1
        else:
            await svc.media.delete(identity, media_id)  # another replica created it meanwhile
    return created


async def keep_seeding(svc: PersonaService, bus: BusClient) -> None:
    delay = RETRY_FIRST
    while True:
        try:
            created = await seed(svc, bus)
        except Exception as exc:  # auth_svc, media_svc or the database not there yet
            log.warning("starter personas not seeded yet; retrying", error=repr(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            continue
        log.info("starter personas seeded", created=created, starters=len(starters()))
        return


@contextlib.asynccontextmanager
async def seeding(settings: Settings, svc: PersonaService, bus: BusClient) -> AsyncIterator[None]:
    """Seed in the background while persona_svc runs (`SEED_STARTERS`); stopped with it."""
    if not settings.seed_starters:
        yield
        return
    task = asyncio.create_task(keep_seeding(svc, bus), name=SEED_TASK)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
