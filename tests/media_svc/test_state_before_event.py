"""State before event: when `media_ready` or `media_failed` reaches the owner, `GET /media/{id}`
already returns the item ready (with its URLs) or failed (with the reason), every time."""

from __future__ import annotations

import pytest

from tests.media_svc.conftest import StartMedia
from tests.support.media import jpeg_with_gps, media_events, new_user, upload
from tests.support.pg import fresh_database
from tests.support.sse import open_stream

RUNS = 50


@pytest.fixture
def backend() -> str:
    return "local"


async def test_an_item_is_stored_when_media_ready_or_media_failed_arrives(
    start_media: StartMedia, postgres_url: str
) -> None:
    # On PostgreSQL, as in production: a commit there takes longer than a read through the gateway.
    media = await start_media(database_url=await fresh_database(postgres_url))
    photo = jpeg_with_gps(96, 64)
    # Cut short: the worker refuses it as truncated, the fast way to a failed item.
    broken = photo[: len(photo) // 2]
    async with media.http() as http:
        user = await new_user(http)
        async with open_stream(http, headers=user.headers) as stream:
            for i in range(RUNS):
                for data, ending in ((photo, "media_ready"), (broken, "media_failed")):
                    r = await upload(http, user, data)
                    assert r.status_code == 202, r.text
                    media_id = r.json()["data"]["media_id"]
                    event = (await media_events(stream, media_id))[-1]
                    assert event.event == ending, (i, event)
                    item = (await http.get(f"/media/{media_id}", headers=user.headers)).json()["data"]
                    if ending == "media_ready":
                        assert item["status"] == "ready" and item["urls"]["thumbnail"], (i, item)
                        assert (item["width"], item["height"]) == (event.data["width"], event.data["height"])
                    else:
                        assert item["status"] == "failed" and item["error"] == event.data["reason"], (i, item)
