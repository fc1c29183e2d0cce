"""What a visitor without an account may do, through the gateway: read public and unlisted
personas, profiles and card exports; everything that acts (like, follow, fork, chat, report)
answers 401 in the error envelope, and private personas stay 404."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.persona_svc.conftest import Site
from tests.support.users import User


def persona(name: str, visibility: str) -> dict[str, Any]:
    return {
        "name": name,
        "tagline": f"{name} keeps every story",
        "description": "A retired lighthouse keeper who collects storm stories.",
        "greeting": "*Sets down the kettle.* Another storm. Sit.",
        "tags": ["sea"],
        "visibility": visibility,
    }


async def create(site: Site, owner: User, name: str, visibility: str) -> str:
    r = await site.http.post("/personas", json=persona(name, visibility), headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def refused(r: httpx.Response) -> None:
    assert r.status_code == 401, (r.request.method, r.request.url, r.text)
    body = r.json()
    assert set(body) == {"error", "meta"} and body["error"]["code"] == "unauthorized", body
    assert body["meta"]["request_id"]


async def test_a_visitor_reads_the_community_without_an_account(site: Site) -> None:
    owner = await site.user("Mara")
    public = await create(site, owner, "Keeper Ivo", "public")
    unlisted = await create(site, owner, "Hidden Harbour", "unlisted")
    private = await create(site, owner, "Diary", "private")
    visitor = site.http  # no credential at all

    listing = await visitor.get("/personas", params={"sort": "new"})
    assert listing.status_code == 200, listing.text
    assert [p["id"] for p in listing.json()["data"]] == [public]  # unlisted and private: never listed
    assert listing.json()["data"][0]["owner_name"] == "Mara"
    for sort in ("top", "trending"):
        assert (await visitor.get("/personas", params={"sort": sort})).status_code == 200
    found = await visitor.get("/personas", params={"q": "keeper"})
    assert [p["id"] for p in found.json()["data"]] == [public]

    for persona_id in (public, unlisted):
        r = await visitor.get(f"/personas/{persona_id}")
        assert r.status_code == 200, r.text
        view = r.json()["data"]
        assert view["liked_by_me"] is False
    r = await visitor.get(f"/personas/{private}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text

    profile = await visitor.get(f"/users/{owner.id}")
    assert profile.status_code == 200, profile.text
    data = profile.json()["data"]
    assert data["display_name"] == "Mara" and data["public_persona_count"] == 1
    assert data["followed_by_me"] is False
    assert "@" not in profile.text  # no email address in anything a visitor reads
    by_owner = await visitor.get("/personas", params={"creator_id": owner.id})
    assert [p["id"] for p in by_owner.json()["data"]] == [public]
    refused(await visitor.get("/users/me"))

    for persona_id in (public, unlisted):
        card = await visitor.get(f"/personas/{persona_id}/card.json")
        assert card.status_code == 200, card.text
        assert json.loads(card.content)["data"]["name"] in ("Keeper Ivo", "Hidden Harbour")
        assert "attachment" in card.headers["content-disposition"]
        png = await visitor.get(f"/personas/{persona_id}/card.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n"), png.text[:200]
    for kind in ("json", "png"):
        r = await visitor.get(f"/personas/{private}/card.{kind}")
        assert r.status_code == 404, r.text


async def test_a_visitor_is_asked_to_sign_in_for_everything_that_acts(site: Site) -> None:
    owner = await site.user("Mara")
    public = await create(site, owner, "Keeper Ivo", "public")
    visitor = site.http
    refused(await visitor.put(f"/personas/{public}/like"))
    refused(await visitor.delete(f"/personas/{public}/like"))
    refused(await visitor.put(f"/users/{owner.id}/follow"))
    refused(await visitor.post(f"/personas/{public}/fork", json={"visibility": "private"}))
    refused(await visitor.post(f"/personas/{public}/conversations", json={}))
    refused(await visitor.post(f"/personas/{public}/report", json={"reason": "spam"}))
    refused(await visitor.post("/personas", json=persona("Mine", "public")))
    refused(await visitor.get("/conversations"))
    refused(await visitor.get("/feed"))
    # Nothing changed.
    view = (await visitor.get(f"/personas/{public}")).json()["data"]
    assert view["like_count"] == 0 and view["chat_count"] == 0
    assert (await visitor.get(f"/users/{owner.id}")).json()["data"]["follower_count"] == 0
