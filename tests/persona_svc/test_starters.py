"""Starter personas: a fresh stack lists them in Explore with their avatars, owned by the
"Persona Community" system account; restarts and replicas racing never duplicate them; the
setting off seeds none; and every starter is a valid persona that speaks as {{char}} to {{user}}."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from PIL import Image

from chassis.settings import Settings
from persona_svc.starters.catalog import starters
from persona_svc.starters.seed import SEED_TASK, seed
from proto.cards import Lorebook
from proto.identity import Identity
from proto.personas import PersonaCreate
from tests.persona_svc.conftest import Site, SiteFactory
from tests.support.pg import fresh_database
from tests.support.poll import eventually
from tests.support.ports import free_port

STARTERS = starters()
IDS = {s.persona_id for s in STARTERS}


def test_every_starter_is_a_valid_persona_that_speaks_as_char_to_user() -> None:
    assert len(STARTERS) >= 8
    assert len({s.persona.name for s in STARTERS}) == len(STARTERS)
    for s in STARTERS:
        p = s.persona
        # What a client would POST: the same body check as `POST /personas`.
        assert msgspec.json.decode(msgspec.json.encode(p), type=PersonaCreate) == p
        assert p.visibility == "public" and not p.nsfw, s.slug
        assert all([p.tagline, p.description, p.personality, p.scenario, p.tags]), s.slug
        assert len(p.alternate_greetings) == 2, s.slug
        for greeting in (p.greeting, *p.alternate_greetings):
            assert "{{char}}" in greeting and "{{user}}" in greeting, s.slug
        sections = p.example_dialogues.split("<START>")
        assert sections[0].strip() == "" and len(sections) >= 3, s.slug
        for section in sections[1:]:
            lines = section.strip().splitlines()
            assert lines[0].startswith("{{user}}: ") and any(ln.startswith("{{char}}: ") for ln in lines), (
                s.slug
            )
        text = " ".join([p.description, p.personality, p.greeting, p.example_dialogues]).lower()
        assert not re.search(r"\b(an ai|language model|chatbot)\b", text), s.slug
        with Image.open(io.BytesIO(s.avatar())) as img:
            assert img.format == "WEBP" and img.size == (512, 512)
        assert len(s.avatar()) < 100 * 1024
    books = [s.persona.character_book for s in STARTERS if s.persona.character_book]
    assert len(books) >= 2
    for book in books:
        entries = msgspec.convert(book, Lorebook).entries
        assert len(entries) >= 3
        assert all(e.keys and e.content and e.enabled for e in entries)
        assert len({e.insertion_order for e in entries}) == len(entries)


async def explore(site: Site) -> list[dict[str, Any]]:
    r = await site.http.get("/personas", params={"limit": 100})
    assert r.status_code == 200, r.text
    listed: list[dict[str, Any]] = r.json()["data"]
    return listed


async def starters_with_avatars(site: Site) -> list[dict[str, Any]]:
    """Explore once every starter is listed with its avatar processed (the worker's part)."""
    found: list[dict[str, Any]] = []

    async def ready() -> bool:
        nonlocal found
        found = await explore(site)
        return {p["id"] for p in found} >= IDS and all(p["avatar_url"] for p in found)

    await eventually(ready, timeout=60.0)
    return found


async def start(start_site: SiteFactory, **options: Any) -> Site:
    # The gateway listens on PUBLIC_URL, so the signed avatar URLs can be fetched in the test.
    options.setdefault("public_url", f"http://127.0.0.1:{free_port()}")
    return await start_site(media=True, job_backoff_base=0.2, **options)


@pytest.mark.parametrize("backend", ["memory", "postgres"])
async def test_a_fresh_stack_lists_the_starters_with_avatars_and_a_restart_adds_none(
    start_site: SiteFactory, request: pytest.FixtureRequest, backend: str
) -> None:
    options: dict[str, Any] = {"seed_starters": True}
    if backend == "postgres":
        options["database_url"] = await fresh_database(request.getfixturevalue("postgres_url"))
    site = await start(start_site, **options)

    listed = await starters_with_avatars(site)
    assert len(listed) == len(STARTERS) and {p["id"] for p in listed} == IDS
    # Newest first: Explore shows them in the file's order.
    assert [p["name"] for p in listed] == [s.persona.name for s in STARTERS]
    assert len({p["owner_id"] for p in listed}) == 1
    assert {p["owner_name"] for p in listed} == {"Persona Community"}
    # Listings carry summaries; each persona's own page has its lorebook.
    whole = [(await site.http.get(f"/personas/{p['id']}")).json()["data"] for p in listed]
    assert sum(1 for p in whole if p["character_book"]) >= 2
    async with httpx.AsyncClient(timeout=30.0) as plain:
        r = await plain.get(listed[0]["avatar_url"])
    assert r.status_code == 200
    with Image.open(io.BytesIO(r.content)) as img:
        assert max(img.size) <= 256

    # A visitor chats with one: the greeting names the starter and the visitor.
    visitor = await site.user("Robin")
    first = STARTERS[0]
    r = await site.http.post(f"/personas/{first.persona_id}/conversations", headers=visitor.headers)
    assert r.status_code == 201, r.text
    greeting = r.json()["data"]["messages"][0]["content"]
    assert first.persona.name in greeting and "Robin" in greeting and "{{" not in greeting

    # A restart of persona_svc seeds again (the memory store starts empty) or finds them all.
    avatars = {p["id"]: p["avatar_media_id"] for p in listed}
    await site.persona.stop()
    await site.persona.start()
    again = await starters_with_avatars(site)
    assert sorted(p["id"] for p in again) == sorted(IDS)
    if backend == "postgres":
        assert {p["id"]: p["avatar_media_id"] for p in again} == avatars


async def test_replicas_seeding_at_once_create_each_starter_once(
    start_site: SiteFactory, postgres_url: str
) -> None:
    site = await start(start_site, database_url=await fresh_database(postgres_url))
    svc, bus = site.persona.state["personas"], site.persona.state["ctx"].bus
    created = await asyncio.gather(*(seed(svc, bus) for _ in range(3)))
    assert sum(created) == len(STARTERS)
    assert await seed(svc, bus) == 0
    listed = await starters_with_avatars(site)
    assert sorted(p["id"] for p in listed) == sorted(IDS)
    # The replicas that lost a race deleted the avatar they had uploaded.
    owner = Identity(user_id=listed[0]["owner_id"], via="internal")
    reply = await bus.call("media", "GET", "/media", query="limit=100", identity=owner)
    assert reply.status == 200
    assert sorted(m["id"] for m in reply.json()["data"]) == sorted(p["avatar_media_id"] for p in listed)


async def test_seed_starters_off_seeds_none(
    start_site: SiteFactory, make_settings: Callable[..., Settings]
) -> None:
    assert Settings.from_env({}).seed_starters is True
    assert make_settings(seed_starters="false").seed_starters is False
    site = await start(start_site, seed_starters=False)
    assert SEED_TASK not in {t.get_name() for t in asyncio.all_tasks()}
    r = await site.http.post(
        "/personas",
        json={"name": "Mine", "description": "d", "greeting": "g", "visibility": "public"},
        headers=(await site.user()).headers,
    )
    assert r.status_code == 201
    assert [p["name"] for p in await explore(site)] == ["Mine"]
