"""media_svc with persona_svc running: the persona a generation or an upload names must be one
the caller can see (persona_svc decides, over the bus, with the caller's identity) and owns."""

from __future__ import annotations

import pytest

from tests.media_svc.conftest import StartMedia
from tests.support.media import jpeg_with_gps, new_persona, new_user, stored_keys, upload


@pytest.fixture
def backend() -> str:
    return "local"


async def test_generation_asks_persona_svc_about_the_persona(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        owner, stranger = await new_user(http, "owner"), await new_user(http, "stranger")
        persona = {
            "name": "Seraphina",
            "description": "A guardian.",
            "greeting": "Hello.",
            "visibility": "private",
        }
        r = await http.post("/personas", json=persona, headers=owner.headers)
        assert r.status_code == 201, r.text
        persona_id = r.json()["data"]["id"]
        body = {"persona_id": persona_id, "kind": "image", "prompt": "a forest shrine"}
        assert (await http.post("/media/generations", json=body, headers=owner.headers)).status_code == 202
        # A private persona is invisible to others: as if it did not exist.
        r = await http.post("/media/generations", json=body, headers=stranger.headers)
        assert r.status_code == 404 and r.json()["error"]["details"]["field"] == "persona_id"
        missing = {**body, "persona_id": "00000000-0000-0000-0000-000000000000"}
        r = await http.post("/media/generations", json=missing, headers=owner.headers)
        assert r.status_code == 404
        r = await upload(http, stranger, jpeg_with_gps(64, 64), fields={"persona_id": persona_id})
        assert r.status_code == 404


async def test_only_the_owner_adds_media_to_a_persona(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        owner, stranger = await new_user(http, "owner"), await new_user(http, "stranger")
        persona_id = await new_persona(http, owner, "public")
        # A public persona is visible to everyone, but its gallery is its owner's.
        assert (await http.get(f"/personas/{persona_id}", headers=stranger.headers)).status_code == 200
        keys_before = await stored_keys(media.settings)
        body = {"persona_id": persona_id, "kind": "image", "prompt": "graffiti on the shrine"}
        refused = [
            await upload(http, stranger, jpeg_with_gps(64, 64), fields={"persona_id": persona_id}),
            await http.post("/media/generations", json=body, headers=stranger.headers),
            await http.post("/media/generations", json={**body, "kind": "video"}, headers=stranger.headers),
        ]
        for r in refused:
            assert r.status_code == 403, r.text
            error = r.json()["error"]
            assert error["code"] == "forbidden" and error["details"]["field"] == "persona_id"
            assert "owner" in error["message"]
        # Nothing was recorded or stored, for either of them.
        for user in (stranger, owner):
            r = await http.get("/media", params={"persona_id": persona_id}, headers=user.headers)
            assert r.status_code == 200 and r.json()["data"] == []
        assert await stored_keys(media.settings) == keys_before
        # The owner still can.
        r = await upload(http, owner, jpeg_with_gps(64, 64), fields={"persona_id": persona_id})
        assert r.status_code == 202, r.text
