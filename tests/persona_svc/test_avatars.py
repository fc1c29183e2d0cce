"""Avatars of personas, through the gateway with media_svc and the worker: persona_svc checks an
avatar is the owner's image, makes it public when the persona is shared, and every persona view
carries complete URLs resolved with one media lookup per page."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from prometheus_client import REGISTRY

from chassis.settings import Settings
from tests.persona_svc.conftest import Site, SiteFactory
from tests.persona_svc.helpers import (
    png_card,
    v2_card,
)
from tests.support.media import jpeg_with_gps, upload, wait_status
from tests.support.poll import eventually
from tests.support.ports import free_port
from tests.support.s3 import MotoServer, create_bucket, s3_settings
from tests.support.users import User

MISSING = "00000000-0000-0000-0000-000000000000"


def persona_body(name: str, visibility: str = "public", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Keeps the light.",
        "greeting": "Hello.",
        "visibility": visibility,
    } | extra


async def start(start_site: SiteFactory, make_settings: Callable[..., Settings], **options: Any) -> Site:
    # The gateway listens on PUBLIC_URL, so the URLs media_svc signs can be fetched in the test.
    options.setdefault("public_url", f"http://127.0.0.1:{free_port()}")
    if options.get("storage") == "s3":
        await create_bucket(make_settings(**options))
    return await start_site(media=True, job_backoff_base=0.2, **options)


async def ready_image(site: Site, user: User, seed: int = 1) -> str:
    """An uploaded JPEG (private, the default), processed."""
    r = await upload(site.http, user, jpeg_with_gps(96 + seed, 64))
    assert r.status_code == 202, r.text
    media_id: str = r.json()["data"]["media_id"]
    assert (await wait_status(site.http, user, media_id))["status"] == "ready"
    return media_id


async def create(site: Site, user: User, body: dict[str, Any]) -> dict[str, Any]:
    r = await site.http.post("/personas", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    persona: dict[str, Any] = r.json()["data"]
    return persona


async def visibility_of(site: Site, owner: User, media_id: str) -> str:
    r = await site.http.get(f"/media/{media_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["visibility"])


async def fetch_image(url: str) -> tuple[int, int]:
    """Download a returned URL as is (no credentials) and decode it."""
    async with httpx.AsyncClient(timeout=30.0) as plain:
        r = await plain.get(url)
    assert r.status_code == 200, (url, r.status_code)
    with Image.open(io.BytesIO(r.content)) as img:
        return img.size


def lookups() -> float:
    """media_svc's own count of answered `POST /media/lookup` (the services run in this process)."""
    labels = {"component": "media", "method": "POST", "route": "/media/lookup", "status": "200"}
    return REGISTRY.get_sample_value("persona_http_requests_total", labels) or 0.0


@pytest.mark.parametrize("storage", ["local", "s3"])
async def test_a_shared_personas_avatar_is_seen_and_fetched_by_everyone(
    start_site: SiteFactory,
    make_settings: Callable[..., Settings],
    request: pytest.FixtureRequest,
    storage: str,
) -> None:
    options: dict[str, Any] = {}
    if storage == "s3":
        moto: MotoServer = request.getfixturevalue("moto")
        options = s3_settings(moto)
    site = await start(start_site, make_settings, **options)
    owner, stranger = await site.user("owner"), await site.user("stranger")
    media_id = await ready_image(site, owner)
    assert await visibility_of(site, owner, media_id) == "private"

    persona = await create(site, owner, persona_body("Lighthouse Keeper", avatar_media_id=media_id))
    assert persona["avatar_media_id"] == media_id
    assert persona["avatar_url"] == persona["avatar_urls"]["thumbnail"]
    # The persona is public, so its avatar was made readable by everyone.
    assert await visibility_of(site, owner, media_id) == "public"

    for who in (stranger.headers, {}):
        r = await site.http.get(f"/personas/{persona['id']}", headers=who)
        assert r.status_code == 200, r.text
        seen = r.json()["data"]
        urls = seen["avatar_urls"]
        assert seen["avatar_url"] == urls["thumbnail"] and urls["thumbnail"] != urls["optimized"]
        # Complete URLs: the thumbnail fits 256 px, the optimized one is the upload's size here.
        assert max(await fetch_image(seen["avatar_url"])) <= 256
        assert await fetch_image(urls["optimized"]) == (97, 64)

    # Every listing carries it too: the community, a creator's list, the feed.
    listed = (await site.http.get("/personas")).json()["data"]
    assert [p["avatar_url"] is not None for p in listed if p["id"] == persona["id"]] == [True]
    mine = (await site.http.get("/personas", params={"creator_id": owner.id})).json()["data"]
    assert mine[0]["id"] == persona["id"] and mine[0]["avatar_url"]
    assert (await site.http.put(f"/users/{owner.id}/follow", headers=stranger.headers)).status_code == 200
    feed = (await site.http.get("/feed", headers=stranger.headers)).json()["data"]
    assert feed[0]["id"] == persona["id"] and feed[0]["avatar_urls"]["optimized"]
    # … and a conversation with it.
    r = await site.http.post(f"/personas/{persona['id']}/conversations", headers=stranger.headers)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["conversation"]["persona_avatar_url"]
    chats = (await site.http.get("/conversations", headers=stranger.headers)).json()["data"]
    assert chats[0]["persona_avatar_url"]
    # … and a room with it (its page and the list of rooms).
    r = await site.http.post(
        "/rooms", json={"title": "Harbour", "persona_ids": [persona["id"]]}, headers=stranger.headers
    )
    assert r.status_code == 201, r.text
    thumbnail = persona["avatar_url"].split("?")[0]  # an S3 URL is signed anew on each answer
    assert r.json()["data"]["room"]["personas"][0]["avatar_url"].split("?")[0] == thumbnail
    rooms = (await site.http.get("/rooms", headers=stranger.headers)).json()["data"]
    assert rooms[0]["personas"][0]["avatar_url"].split("?")[0] == thumbnail

    # Gone: the persona keeps the id but shows no avatar.
    assert (await site.http.delete(f"/media/{media_id}", headers=owner.headers)).status_code == 204
    r = await site.http.get(f"/personas/{persona['id']}", headers=stranger.headers)
    gone = r.json()["data"]
    assert gone["avatar_media_id"] == media_id and gone["avatar_url"] is None and gone["avatar_urls"] is None


async def test_a_private_personas_avatar_stays_private_until_the_persona_is_shared(
    start_site: SiteFactory, make_settings: Callable[..., Settings]
) -> None:
    site = await start(start_site, make_settings)
    owner, stranger = await site.user("owner"), await site.user("stranger")
    media_id = await ready_image(site, owner)
    persona = await create(site, owner, persona_body("Secret Keeper", "private", avatar_media_id=media_id))
    # Its owner sees it; the media stays private: nobody else can read it by any route.
    assert persona["avatar_url"] and await fetch_image(persona["avatar_url"])
    assert await visibility_of(site, owner, media_id) == "private"
    assert (await site.http.get(f"/personas/{persona['id']}", headers=stranger.headers)).status_code == 404
    assert (await site.http.get(f"/media/{media_id}", headers=stranger.headers)).status_code == 404
    for who in (stranger.headers, {}):
        r = await site.http.post("/media/lookup", json={"ids": [media_id]}, headers=who)
        assert r.status_code == 200 and r.json()["data"] == []

    # Unlisted: anyone with the link sees the persona, so its avatar becomes public.
    r = await site.http.patch(
        f"/personas/{persona['id']}", json={"visibility": "unlisted"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert await visibility_of(site, owner, media_id) == "public"
    seen = (await site.http.get(f"/personas/{persona['id']}")).json()["data"]
    assert seen["avatar_url"] and await fetch_image(seen["avatar_url"])

    # A new avatar on the shared persona is made public too (through PATCH).
    second = await ready_image(site, owner, seed=2)
    r = await site.http.patch(
        f"/personas/{persona['id']}", json={"avatar_media_id": second}, headers=owner.headers
    )
    assert r.status_code == 200 and r.json()["data"]["avatar_media_id"] == second
    assert await visibility_of(site, owner, second) == "public"


async def test_an_avatar_must_be_the_callers_own_image(
    start_site: SiteFactory, make_settings: Callable[..., Settings]
) -> None:
    site = await start(start_site, make_settings)
    owner, stranger = await site.user("owner"), await site.user("stranger")
    theirs = await ready_image(site, stranger)
    # Even when it is public, someone else's picture is not yours to use.
    r = await site.http.patch(f"/media/{theirs}", json={"visibility": "public"}, headers=stranger.headers)
    assert r.status_code == 200
    photo = jpeg_with_gps(1200, 900)
    r = await upload(site.http, owner, photo[: len(photo) // 2])  # truncated: fails in the worker
    broken = r.json()["data"]["media_id"]
    assert (await wait_status(site.http, owner, broken))["status"] == "failed"

    for bad in (theirs, MISSING, broken):
        r = await site.http.post(
            "/personas", json=persona_body("Thief", avatar_media_id=bad), headers=owner.headers
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == "avatar_media_id"
    r = await site.http.post(
        "/personas", json=persona_body("Thief", avatar_media_id="../x"), headers=owner.headers
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "avatar_media_id"
    assert (await site.http.get("/personas", params={"creator_id": owner.id}, headers=owner.headers)).json()[
        "data"
    ] == []

    persona = await create(site, owner, persona_body("Honest"))
    for bad in (theirs, MISSING):
        r = await site.http.patch(
            f"/personas/{persona['id']}", json={"avatar_media_id": bad}, headers=owner.headers
        )
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "avatar_media_id"
    unchanged = (await site.http.get(f"/personas/{persona['id']}")).json()["data"]
    assert unchanged["avatar_media_id"] is None and unchanged["updated_at"] == persona["updated_at"]


async def test_a_processing_avatar_has_no_url_yet(
    start_site: SiteFactory, make_settings: Callable[..., Settings]
) -> None:
    site = await start(start_site, make_settings, worker=False)
    owner = await site.user("owner")
    r = await upload(site.http, owner, jpeg_with_gps(64, 64))
    media_id = r.json()["data"]["media_id"]
    persona = await create(site, owner, persona_body("Patient", avatar_media_id=media_id))
    assert persona["avatar_media_id"] == media_id and persona["avatar_url"] is None
    assert await visibility_of(site, owner, media_id) == "public"
    listed = (await site.http.get("/personas")).json()["data"]
    assert listed[0]["id"] == persona["id"] and listed[0]["avatar_url"] is None


async def test_an_imported_cards_picture_follows_the_personas_visibility(
    start_site: SiteFactory, make_settings: Callable[..., Settings]
) -> None:
    site = await start(start_site, make_settings)
    owner, stranger = await site.user("owner"), await site.user("stranger")
    headers = {**owner.headers, "content-type": "image/png"}
    r = await site.http.post("/personas/import", content=png_card({"chara": v2_card()}), headers=headers)
    assert r.status_code == 201, r.text
    persona = r.json()["data"]
    media_id = persona["avatar_media_id"]
    assert persona["visibility"] == "private" and await visibility_of(site, owner, media_id) == "private"
    assert (await site.http.get(f"/media/{media_id}", headers=stranger.headers)).status_code == 404

    r = await site.http.patch(
        f"/personas/{persona['id']}", json={"visibility": "public"}, headers=owner.headers
    )
    assert r.status_code == 200
    assert await visibility_of(site, owner, media_id) == "public"

    async def shown() -> bool:
        seen = (await site.http.get(f"/personas/{persona['id']}", headers=stranger.headers)).json()["data"]
        return seen["avatar_url"] is not None

    await eventually(shown)


async def test_a_page_of_personas_resolves_its_avatars_with_one_lookup(
    start_site: SiteFactory, make_settings: Callable[..., Settings]
) -> None:
    site = await start(start_site, make_settings)
    owner, fan = await site.user("owner"), await site.user("fan")
    images = [await ready_image(site, owner, seed=i) for i in range(3)]
    for i in range(6):
        await create(site, owner, persona_body(f"Keeper {i}", avatar_media_id=images[i % 3]))
    await create(site, owner, persona_body("No picture"))
    assert (await site.http.put(f"/users/{owner.id}/follow", headers=fan.headers)).status_code == 200

    async def one_lookup(path: str, **params: Any) -> list[dict[str, Any]]:
        before = lookups()
        r = await site.http.get(path, params=params, headers=fan.headers)
        assert r.status_code == 200, r.text
        page: list[dict[str, Any]] = r.json()["data"]
        # The counter moves right after media_svc answers; wait for it, then check it moved once.
        await eventually(lambda: _at_least(before + 1))
        assert lookups() == before + 1, path
        return page

    for path, params in [
        ("/personas", {}),
        ("/personas", {"sort": "top"}),
        ("/personas", {"sort": "trending"}),
        ("/personas", {"creator_id": owner.id}),
        ("/feed", {}),
    ]:
        page = await one_lookup(path, **params)
        assert len(page) == 7
        assert sum(p["avatar_url"] is not None for p in page) == 6, path

    # Two pages, two lookups; a page without avatars asks nothing.
    first = await one_lookup("/personas", limit=4)
    assert len(first) == 4
    before = lookups()
    r = await site.http.get("/personas", params={"creator_id": fan.id}, headers=fan.headers)
    assert r.status_code == 200 and r.json()["data"] == []
    await create(site, fan, persona_body("Plain"))
    r = await site.http.get("/personas", params={"creator_id": fan.id}, headers=fan.headers)
    assert r.json()["data"][0]["avatar_url"] is None
    assert lookups() == before

    pictured = [p for p in (await site.http.get("/personas")).json()["data"] if p["avatar_url"]]
    for persona in pictured[:3]:
        r = await site.http.post(f"/personas/{persona['id']}/conversations", headers=fan.headers)
        assert r.status_code == 201
    chats = await one_lookup("/conversations")
    assert len(chats) == 3 and all(c["persona_avatar_url"] for c in chats)


async def _at_least(value: float) -> bool:
    return lookups() >= value
