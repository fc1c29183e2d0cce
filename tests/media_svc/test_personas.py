"""media_svc with persona_svc running: the persona a generation or an upload names must be one
the caller can see (persona_svc decides, over the bus, with the caller's identity)."""

from __future__ import annotations

import pytest

from persona_svc.app import create_app as create_persona
from tests.media_svc.conftest import StartMedia
from tests.media_svc.support import jpeg_with_gps, new_user, upload


@pytest.fixture
def backend() -> str:
    return "local"


async def test_generation_asks_persona_svc_about_the_persona(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    await media.mesh.app(create_persona(media.settings))
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
