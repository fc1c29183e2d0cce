"""Listings carry summaries: a page of personas stays small however long their texts are."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.persona_svc.conftest import Site
from tests.persona_svc.helpers import (
    create,
)

LOREBOOK_ENTRY = 30 * 1024
PAGE_BUDGET = 64 * 1024
# What the web UI's cards and Explore read from a listed persona (web/js/community.js
# personaCard, views/landing.js teaser, media.js avatar).
CARD_FIELDS = {
    "id",
    "owner_id",
    "owner_name",
    "name",
    "tagline",
    "tags",
    "nsfw",
    "like_count",
    "chat_count",
    "liked_by_me",
    "avatar_url",
    "avatar_media_id",
}


def lorebook(seed: int) -> dict[str, Any]:
    """About 300 KB of lorebook: ten long entries."""
    entries = [{"keys": [f"key{seed}-{i}"], "content": chr(97 + i) * LOREBOOK_ENTRY} for i in range(10)]
    return {"name": f"World {seed}", "entries": entries}


async def test_a_page_of_twenty_personas_with_big_lorebooks_is_small(site: Site) -> None:
    owner = await site.user("worldbuilder")
    gate = asyncio.Semaphore(4)

    async def one(i: int) -> dict[str, Any]:
        async with gate:
            return await create(
                site.http,
                owner,
                name=f"Keeper {i}",
                description="{{char}} remembers everything. " * 500,
                character_book=lorebook(i),
            )

    created = await asyncio.gather(*(one(i) for i in range(20)))
    whole = await site.http.get(f"/personas/{created[0]['id']}")
    assert whole.status_code == 200 and len(whole.content) > 300 * 1024

    pages: list[dict[str, str | int]] = [{"sort": "new"}, {"sort": "top"}, {"q": "keeper"}]
    for params in ({"limit": 20, **p} for p in pages):
        page = await site.http.get("/personas", params=params)
        assert page.status_code == 200, page.text
        assert len(page.content) < PAGE_BUDGET, (params, len(page.content))
        items = page.json()["data"]
        assert {p["id"] for p in items} == {p["id"] for p in created}
        assert all(CARD_FIELDS <= set(p) for p in items)
        assert not {"description", "character_book", "greeting"} & set(items[0])
        mine = next(p for p in items if p["id"] == created[0]["id"])
        assert mine["name"] == "Keeper 0" and mine["owner_name"] == "worldbuilder"
        assert mine["tags"] == ["Maritime", "cozy"] and mine["tagline"] == "Retired lighthouse keeper"

    # The creator's own list and the feed of a follower are summaries too.
    own_list: dict[str, str | int] = {"creator_id": owner.id, "limit": 20}
    own = await site.http.get("/personas", params=own_list, headers=owner.headers)
    assert own.status_code == 200 and len(own.content) < PAGE_BUDGET
    fan = await site.user("fan")
    r = await site.http.put(f"/users/{owner.id}/follow", headers=fan.headers)
    assert r.status_code == 200, r.text
    feed = await site.http.get("/feed", params={"limit": 20}, headers=fan.headers)
    assert feed.status_code == 200 and len(feed.content) < PAGE_BUDGET
    assert len(feed.json()["data"]) == 20
