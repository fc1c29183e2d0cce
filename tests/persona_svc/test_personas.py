"""Personas and the community, end to end through the gateway on a real nats-server."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.persona_svc.conftest import Site
from tests.persona_svc.helpers import (
    create,
    error_field,
    persona_body,
    user_events,
)


async def test_crud_and_visibility(site: Site) -> None:
    http = site.http
    owner, other = await site.user("owner"), await site.user("other")
    created = await create(http, owner)
    pid = created["id"]
    assert created["owner_id"] == owner.id and created["owner_name"] == "owner"
    assert created["like_count"] == 0 and created["chat_count"] == 0 and created["liked_by_me"] is False
    assert created["tags"] == ["Maritime", "cozy"] and created["moderation"] == "visible"

    anonymous = await http.get(f"/personas/{pid}")
    assert anonymous.status_code == 200 and anonymous.json()["data"]["name"] == "Captain Mara Vell"

    r = await http.patch(f"/personas/{pid}", json={"tagline": "Keeper of storms"}, headers=other.headers)
    assert r.status_code == 403
    r = await http.patch(f"/personas/{pid}", json={"tagline": "Keeper of storms"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["tagline"] == "Keeper of storms"
    assert r.json()["data"]["description"] == created["description"]

    # Private: invisible (404) to others, readable by the owner.
    await http.patch(f"/personas/{pid}", json={"visibility": "private"}, headers=owner.headers)
    assert (await http.get(f"/personas/{pid}", headers=other.headers)).status_code == 404
    assert (await http.get(f"/personas/{pid}")).status_code == 404
    assert (
        await http.patch(f"/personas/{pid}", json={"name": "x"}, headers=other.headers)
    ).status_code == 404
    assert (await http.get(f"/personas/{pid}", headers=owner.headers)).status_code == 200

    # Unlisted: readable by id, never listed.
    await http.patch(f"/personas/{pid}", json={"visibility": "unlisted"}, headers=owner.headers)
    assert (await http.get(f"/personas/{pid}", headers=other.headers)).status_code == 200
    listed = await http.get("/personas", params={"creator_id": owner.id})
    assert listed.json()["data"] == []
    # … except to the owner listing their own personas.
    mine = await http.get("/personas", params={"creator_id": owner.id}, headers=owner.headers)
    assert [p["id"] for p in mine.json()["data"]] == [pid]

    assert (await http.delete(f"/personas/{pid}", headers=other.headers)).status_code == 403
    r = await http.delete(f"/personas/{pid}", headers=owner.headers)
    assert r.status_code == 204
    assert (await http.get(f"/personas/{pid}", headers=owner.headers)).status_code == 404
    assert (await http.post("/personas", json=persona_body())).status_code == 401


async def test_bad_input_is_422_naming_the_field_and_creates_nothing(site: Site) -> None:
    http = site.http
    user = await site.user()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x" * 81}, "name"),
        ({"name": "   "}, "name"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"tags": ["x" * 33]}, "tags[0]"),
        ({"description": "d" * (32 * 1024 + 1)}, "description"),
        ({"visibility": "everyone"}, "visibility"),
        ({"greeting": None}, "greeting"),
        ({"alternate_greetings": ["ok", 5]}, "alternate_greetings[1]"),
        ({"nsfw": "maybe"}, "nsfw"),
        ({"character_book": {"entries": [{"keys": "gull"}]}}, "character_book.entries[0].keys"),
        ({"character_book": {"no_entries": []}}, "character_book.entries"),
    ]
    for fields, field in cases:
        r = await http.post("/personas", json=persona_body(**fields), headers=user.headers)
        assert r.status_code == 422, (fields, r.text)
        assert error_field(r) == field, (fields, r.text)
    r = await http.post("/personas", json=persona_body(unknown_field=1), headers=user.headers)
    assert r.status_code == 422 and "unknown_field" in r.json()["error"]["message"]
    body = persona_body()
    del body["visibility"]
    r = await http.post("/personas", json=body, headers=user.headers)
    assert r.status_code == 422 and error_field(r) == "visibility"
    mine = await http.get("/personas", params={"creator_id": user.id}, headers=user.headers)
    assert mine.json()["data"] == []
    r = await http.get("/personas", params={"limit": 0})
    assert r.status_code == 422 and error_field(r) == "query.limit"
    r = await http.get("/personas", params={"cursor": "garbage!"})
    assert r.status_code == 422 and error_field(r) == "cursor"


async def test_pagination_across_250_personas_with_inserts_between_pages(site: Site) -> None:
    http = site.http
    makers = [await site.user(f"maker{i}") for i in range(3)]
    created: list[str] = []
    for i in range(250):
        maker = makers[i % 3]
        created.append((await create(http, maker, name=f"Persona {i:03}", tags=[f"batch{i % 5}"]))["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 40}
        if cursor:
            params["cursor"] = cursor
        r = await http.get("/personas", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [p["id"] for p in page["data"]]
        pages += 1
        # New personas published between pages must not shift what the next page shows.
        await create(http, makers[0], name=f"Late {pages}")
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 250
    assert seen == list(reversed(created))
    assert pages == 7

    # The same holds for top and trending, with a tag filter: every persona that existed when the
    # listing started shows up exactly once. (Trending freezes its set at the first page; in top a
    # newcomer with no likes may show up further down, once.)
    batch = set(created[1::5])
    for sort in ("top", "trending"):
        ids: list[str] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 15, "tag": "batch1"}
            if cursor:
                params["cursor"] = cursor
            page = (await http.get("/personas", params=params)).json()
            ids += [p["id"] for p in page["data"]]
            batch.add((await create(http, makers[1], name="Later still", tags=["batch1"]))["id"])
            cursor = page["meta"]["next_cursor"]
            if cursor is None:
                break
        assert len(ids) == len(set(ids)), sort
        assert set(created[1::5]) <= set(ids) <= batch, sort
        if sort == "trending":
            assert len(ids) == len(batch) - 4, "personas created after the first page are not ranked"
    r = await http.get("/personas", params={"sort": "top", "cursor": page["meta"].get("next_cursor") or ""})
    assert r.status_code == 200
    new_cursor = (await http.get("/personas", params={"limit": 1})).json()["meta"]["next_cursor"]
    r = await http.get("/personas", params={"sort": "top", "cursor": new_cursor})
    assert r.status_code == 422 and error_field(r) == "cursor"


async def test_search_matches_name_tagline_and_tags_case_insensitively(site: Site) -> None:
    http = site.http
    user = await site.user()
    a = await create(http, user, name="Lighthouse Keeper", tagline="", tags=[])
    b = await create(http, user, name="Bob", tagline="Writes about LIGHTHOUSES", tags=[])
    c = await create(http, user, name="Cleo", tagline="", tags=["lightHouse"])
    await create(
        http, user, name="Dan", tagline="", tags=[], description="lighthouse only in the description"
    )
    r = await http.get("/personas", params={"q": "LightHouse"})
    assert {p["id"] for p in r.json()["data"]} == {a["id"], b["id"], c["id"]}
    r = await http.get("/personas", params={"tag": "LIGHTHOUSE"})
    assert [p["id"] for p in r.json()["data"]] == [c["id"]]
    r = await http.get("/personas", params={"q": "100%"})
    assert r.json()["data"] == []


async def test_fork_copies_with_attribution(site: Site) -> None:
    http = site.http
    owner, other = await site.user("owner"), await site.user("other")
    source = await create(http, owner, character_book={"entries": [{"keys": ["gull"], "content": "Gulls!"}]})
    r = await http.post(f"/personas/{source['id']}/fork", headers=other.headers)
    assert r.status_code == 201, r.text
    fork = r.json()["data"]
    assert fork["forked_from"] == source["id"] and fork["owner_id"] == other.id
    assert fork["visibility"] == "private" and fork["id"] != source["id"]
    for field in ("name", "description", "greeting", "alternate_greetings", "tags", "character_book"):
        assert fork[field] == source[field]
    # Unlisted or private personas of someone else cannot be forked.
    unlisted = await create(http, owner, visibility="unlisted")
    assert (await http.post(f"/personas/{unlisted['id']}/fork", headers=other.headers)).status_code == 403
    private = await create(http, owner, visibility="private")
    assert (await http.post(f"/personas/{private['id']}/fork", headers=other.headers)).status_code == 404
    own = await http.post(
        f"/personas/{private['id']}/fork", json={"visibility": "public"}, headers=owner.headers
    )
    assert own.status_code == 201 and own.json()["data"]["visibility"] == "public"


async def test_fifty_concurrent_likes_count_fifty_and_notify_the_owner(site: Site) -> None:
    http = site.http
    owner = await site.user("owner")
    persona = await create(http, owner)
    url = f"/personas/{persona['id']}/like"
    fans = await site.users(50)
    results = await asyncio.gather(*(http.put(url, headers=fan.headers) for fan in fans))
    assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
    got = (await http.get(f"/personas/{persona['id']}", headers=fans[0].headers)).json()["data"]
    assert got["like_count"] == 50 and got["liked_by_me"] is True
    # Idempotent: liking again, concurrently, changes nothing; unliking twice removes one.
    again = await asyncio.gather(*(http.put(url, headers=fan.headers) for fan in fans[:10]))
    assert {r.json()["data"]["like_count"] for r in again} == {50}
    r1, r2 = await http.delete(url, headers=fans[0].headers), await http.delete(url, headers=fans[0].headers)
    assert r1.json()["data"] == {"persona_id": persona["id"], "liked_by_me": False, "like_count": 49}
    assert r2.json()["data"]["like_count"] == 49
    events = [e for e in await user_events(site, owner.id) if e["event"] == "notification"]
    assert len(events) == 50
    assert {e["actor_id"] for e in events} == {f.id for f in fans}
    assert events[0]["kind"] == "like" and events[0]["persona_id"] == persona["id"]
    assert events[0]["persona_name"] == "Captain Mara Vell" and events[0]["actor_name"].startswith("fan")
    # Top puts the liked persona first.
    await create(http, owner, name="Unloved")
    top = (await http.get("/personas", params={"sort": "top"})).json()["data"]
    assert top[0]["id"] == persona["id"]


async def test_follow_profile_and_feed(site: Site) -> None:
    http = site.http
    maker, fan = await site.user("maker"), await site.user("fan")
    r = await http.put(f"/users/{maker.id}/follow", headers=fan.headers)
    assert r.status_code == 200 and r.json()["data"] == {
        "user_id": maker.id,
        "followed_by_me": True,
        "follower_count": 1,
    }
    assert (await http.put(f"/users/{fan.id}/follow", headers=fan.headers)).status_code == 422
    assert (
        await http.put("/users/00000000-0000-0000-0000-000000000000/follow", headers=fan.headers)
    ).status_code == 404
    older = await create(http, maker, name="Older")
    newer = await create(http, maker, name="Newer")
    await create(http, maker, name="Secret", visibility="private")
    await create(http, fan, name="Not followed")
    feed = (await http.get("/feed", headers=fan.headers)).json()["data"]
    assert [p["id"] for p in feed] == [newer["id"], older["id"]]
    profile = (await http.get(f"/users/{maker.id}", headers=fan.headers)).json()["data"]
    assert profile == {
        "id": maker.id,
        "display_name": "maker",
        "bio": "",
        "public_persona_count": 2,
        "follower_count": 1,
        "following_count": 0,
        "followed_by_me": True,
    }
    me = (await http.get("/users/me", headers=fan.headers)).json()["data"]
    assert me["following_count"] == 1 and me["id"] == fan.id
    events = [e for e in await user_events(site, maker.id) if e["event"] == "notification"]
    assert [(e["kind"], e["actor_id"], e["actor_name"]) for e in events] == [("follow", fan.id, "fan")]
    assert (await http.delete(f"/users/{maker.id}/follow", headers=fan.headers)).json()["data"][
        "follower_count"
    ] == 0
    assert (await http.get("/feed", headers=fan.headers)).json()["data"] == []
    assert (await http.get("/users/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_reports_from_three_users_hide_until_an_admin_reviews(site: Site) -> None:
    http = site.http
    owner = await site.user("owner")
    reporters = await site.users(3, "reporter")
    admin = await site.admin()
    persona = await create(http, owner)
    pid = persona["id"]
    url = f"/personas/{pid}/report"
    assert (await http.post(url, json={"reason": "spam"}, headers=owner.headers)).status_code == 422
    assert (await http.post(url, json={"reason": ""}, headers=reporters[0].headers)).status_code == 422
    r = await http.post(url, json={"reason": "spam"}, headers=reporters[0].headers)
    assert r.status_code == 201 and r.json()["data"]["open_reports"] == 1
    # The same user again does not count twice.
    r = await http.post(url, json={"reason": "still spam"}, headers=reporters[0].headers)
    assert r.status_code == 200 and r.json()["data"]["open_reports"] == 1
    await http.post(url, json={"reason": "offensive"}, headers=reporters[1].headers)
    assert [p["id"] for p in (await http.get("/personas")).json()["data"]] == [pid]
    r = await http.post(url, json={"reason": "spam"}, headers=reporters[2].headers)
    assert r.json()["data"] == {"persona_id": pid, "open_reports": 3, "moderation": "hidden"}
    assert (await http.get("/personas")).json()["data"] == []
    assert (await http.get("/personas", params={"q": "mara"})).json()["data"] == []
    # Hidden from listings, still readable by id.
    assert (await http.get(f"/personas/{pid}")).json()["data"]["moderation"] == "hidden"

    assert (await http.get("/personas/reports", headers=owner.headers)).status_code == 403
    queue = (await http.get("/personas/reports", headers=admin.headers)).json()["data"]
    assert [(q["persona"]["id"], q["open_reports"]) for q in queue] == [(pid, 3)]
    assert {r["reporter_id"] for r in queue[0]["reports"]} == {u.id for u in reporters}
    assert (await http.post(f"/personas/{pid}/restore", headers=owner.headers)).status_code == 403
    r = await http.post(f"/personas/{pid}/restore", headers=admin.headers)
    assert r.status_code == 200 and r.json()["data"]["moderation"] == "visible"
    assert [p["id"] for p in (await http.get("/personas")).json()["data"]] == [pid]
    assert (await http.get("/personas/reports", headers=admin.headers)).json()["data"] == []

    other = await create(http, owner, name="Second")
    for reporter in reporters:
        await http.post(f"/personas/{other['id']}/report", json={"reason": "bad"}, headers=reporter.headers)
    r = await http.post(f"/personas/{other['id']}/remove", headers=admin.headers)
    assert r.status_code == 200 and r.json()["data"]["moderation"] == "removed"
    assert (await http.get(f"/personas/{other['id']}", headers=owner.headers)).status_code == 404
