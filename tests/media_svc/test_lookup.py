"""`POST /media/lookup`: many items in one call, each only if the caller may see it."""

from __future__ import annotations

import httpx
import pytest

from tests.media_svc.conftest import StartMedia
from tests.support.media import jpeg_with_gps, new_user, upload, wait_status

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def backend() -> str:
    return "local"


async def test_lookup_answers_the_visible_items_in_the_order_asked(start_media: StartMedia) -> None:
    media = await start_media()
    async with media.http() as http:
        owner, other = await new_user(http, "owner"), await new_user(http, "other")
        ids = []
        for width in (64, 80):
            r = await upload(http, owner, jpeg_with_gps(width, 48))
            ids.append(r.json()["data"]["media_id"])
        first, second = ids
        r = await upload(http, other, jpeg_with_gps(32, 32))
        theirs = r.json()["data"]["media_id"]
        for media_id in (first, second):
            await wait_status(http, owner, media_id)
        await wait_status(http, other, theirs)

        asked = {"ids": [second, MISSING, first, second, theirs]}
        r = await http.post("/media/lookup", json=asked, headers=owner.headers)
        assert r.status_code == 200, r.text
        found = r.json()["data"]
        assert [m["id"] for m in found] == [second, first]
        # The same complete URLs as a single GET, usable as they are.
        single = (await http.get(f"/media/{second}", headers=owner.headers)).json()["data"]
        assert found[0]["urls"] == single["urls"] and found[0]["status"] == "ready"
        async with httpx.AsyncClient(timeout=30.0) as plain:
            assert (await plain.get(found[0]["urls"]["thumbnail"])).status_code == 200

        # Others (signed in or not) see public items only.
        for who in (other.headers, {}):
            r = await http.post("/media/lookup", json=asked, headers=who)
            assert r.status_code == 200 and [m["id"] for m in r.json()["data"]] == ([theirs] if who else [])
        r = await http.patch(f"/media/{first}", json={"visibility": "public"}, headers=owner.headers)
        assert r.status_code == 200
        r = await http.post("/media/lookup", json=asked)
        assert [m["id"] for m in r.json()["data"]] == [first]


async def test_lookup_refuses_bad_bodies(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        user = await new_user(http)
        for body, field in [
            ({"ids": [MISSING] * 101}, "ids"),
            ({"ids": ["../etc"]}, "ids[0]"),
            ({"ids": "abc"}, "ids"),
            ({}, "ids"),
        ]:
            r = await http.post("/media/lookup", json=body, headers=user.headers)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"]["details"]["field"] == field
        r = await http.post("/media/lookup", json={"ids": []}, headers=user.headers)
        assert r.status_code == 200 and r.json()["data"] == []
