"""No accepted job and no result is lost when a component stops: the worker (before or during a
job), media_svc (while results arrive, with PostgreSQL), and results are persisted once."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from chassis.settings import Settings
from proto.codec import json_encoder
from proto.media import MediaResult, media_result_decoder
from proto.subjects import RESULTS_MEDIA
from tests.media_svc.conftest import StartMedia
from tests.support.media import (
    jpeg_with_gps,
    make_mp4,
    media_events,
    new_user,
    stored_keys,
    upload,
    wait_status,
)
from tests.support.pg import fresh_database
from tests.support.sse import open_stream, stored_events


@pytest.fixture
def backend() -> str:
    return "local"


async def test_upload_accepted_while_the_worker_is_down_is_processed_later(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, jpeg_with_gps(640, 480))
        assert r.status_code == 202
        job_id = r.json()["data"]["job_id"]
        job = (await http.get(f"/media/jobs/{job_id}", headers=user.headers)).json()["data"]
        assert job["state"] == "queued" and job["percent"] == 0
        await media.start_worker()
        item = await wait_status(http, user, r.json()["data"]["media_id"])
        assert item["status"] == "ready"


async def test_worker_stopped_mid_transcode_hands_the_job_to_the_next(
    start_media: StartMedia, tmp_path: Path
) -> None:
    media = await start_media(worker_shutdown_grace=0.1)
    clip = make_mp4(tmp_path / "long.mp4", seconds=20.0, size="1280x960")
    async with media.http() as http:
        user = await new_user(http)
        async with open_stream(http, headers=user.headers, params={"last_event_id": "0"}) as stream:
            r = await upload(http, user, clip.read_bytes(), filename="long.mp4", content_type="video/mp4")
            media_id, job_id = r.json()["data"]["media_id"], r.json()["data"]["job_id"]
            while True:
                event = await stream.next(60)
                if event.event == "media_progress" and event.data["stage"] == "optimized":
                    break
            running = (await http.get(f"/media/jobs/{job_id}", headers=user.headers)).json()["data"]
            assert (
                running["state"] == "running" and running["stage"] == "optimized" and running["percent"] > 0
            )
            assert media.worker is not None
            await media.worker.stop()
            await media.start_worker()
            events = await media_events(stream, media_id, timeout=120)
        assert events[-1].event == "media_ready", events[-1]
        attempts = {e.data["attempt"] for e in events if e.event == "media_progress"}
        assert 2 in attempts
        later = [e.data["percent"] for e in events if e.event == "media_progress" and e.data["attempt"] == 2]
        assert later == sorted(later) and later[-1] == 100
        item = await wait_status(http, user, media_id)
        assert item["status"] == "ready" and item["urls"]["optimized"]


async def test_results_wait_for_media_svc_and_postgres_keeps_them(
    start_media: StartMedia, postgres_url: str
) -> None:
    media = await start_media(worker=False, database_url=await fresh_database(postgres_url))
    async with media.http() as http:
        user = await new_user(http)
        async with open_stream(http, headers=user.headers, params={"last_event_id": "0"}) as stream:
            r = await upload(http, user, jpeg_with_gps(800, 600))
            accepted = r.json()["data"]
            await media.media.stop()
            # The worker runs while media_svc is down: its result waits, and so does the event.
            await media.start_worker()
            published = await result_of(media.settings, accepted["job_id"])
            nc = await nats.connect(media.settings.nats_url)
            try:
                waiting = await stored_events(nc.jetstream(), f"events.user.{user.id}")
            finally:
                await nc.close()
            assert not [e for e in waiting if e["event"] in ("media_ready", "media_failed")], waiting[-1]
            await media.media.start()
            events = await media_events(stream, accepted["media_id"])
            assert events[-1].event == "media_ready"
            # Announced after it was stored: the item reads ready at once.
            item = (await http.get(f"/media/{accepted['media_id']}", headers=user.headers)).json()["data"]
            assert item["status"] == "ready" and item["width"] == 800
            # The same result delivered again (media_svc stopped after storing it, before its ack)
            # is announced again, and EVENTS keeps the first copy only.
            nc = await nats.connect(media.settings.nats_url)
            try:
                js = nc.jetstream()
                again = await js.publish(RESULTS_MEDIA, json_encoder.encode(published))
                for _ in range(400):
                    info = await js.consumer_info("RESULTS", "media-results")
                    if info.ack_floor.stream_seq >= again.seq:
                        break
                    await asyncio.sleep(0.05)
                assert info.ack_floor.stream_seq >= again.seq
                events_now = await stored_events(js, f"events.user.{user.id}")
                endings = [e for e in events_now if e["event"] in ("media_ready", "media_failed")]
                assert [e["media_id"] for e in endings] == [accepted["media_id"]]
            finally:
                await nc.close()
        # And it stays: a restart reads it back from PostgreSQL.
        await media.media.stop()
        await media.media.start()
        again_item = await wait_status(http, user, accepted["media_id"])
        assert again_item["updated_at"] == item["updated_at"]


async def result_of(settings: Settings, job_id: str) -> MediaResult:
    """The `results.media` message of `job_id`, once the worker has published it."""
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        for _ in range(1200):
            with contextlib.suppress(NotFoundError):
                msg = await js.get_last_msg("RESULTS", RESULTS_MEDIA)
                result = media_result_decoder.decode(msg.data or b"")
                if result.job_id == job_id:
                    return result
            await asyncio.sleep(0.05)
        raise AssertionError(f"no result for {job_id}")
    finally:
        await nc.close()


async def test_a_result_is_persisted_exactly_once(start_media: StartMedia) -> None:
    media = await start_media()
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, jpeg_with_gps(640, 480))
        accepted = r.json()["data"]
        item = await wait_status(http, user, accepted["media_id"])
        # A late duplicate (say a redelivered job outside the dedup window) changes nothing.
        late = MediaResult(
            job_id=accepted["job_id"],
            user_id=item["owner_id"],
            media_id=accepted["media_id"],
            status="failed",
            kind="image",
            error="late duplicate",
        )
        nc = await nats.connect(media.settings.nats_url)
        try:
            ack = await nc.jetstream().publish(RESULTS_MEDIA, json_encoder.encode(late))
            for _ in range(400):
                info = await nc.jetstream().consumer_info("RESULTS", "media-results")
                if info.ack_floor.stream_seq >= ack.seq:
                    break
                await asyncio.sleep(0.05)
            assert info.ack_floor.stream_seq >= ack.seq
            # A malformed message is dropped without blocking the ones behind it.
            await nc.jetstream().publish(RESULTS_MEDIA, b"{not json")
        finally:
            await nc.close()
        after = (await http.get(f"/media/{accepted['media_id']}", headers=user.headers)).json()["data"]
        assert (
            after["status"] == "ready"
            and after["error"] is None
            and after["updated_at"] == item["updated_at"]
        )
        r = await upload(http, user, jpeg_with_gps(320, 240))
        assert (await wait_status(http, user, r.json()["data"]["media_id"]))["status"] == "ready"


async def test_deleting_while_processing_leaves_nothing(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, jpeg_with_gps(640, 480))
        media_id = r.json()["data"]["media_id"]
        assert await stored_keys(media.settings) == [f"{media_id}/upload.jpg"]
        assert (await http.delete(f"/media/{media_id}", headers=user.headers)).status_code == 204
        await media.start_worker()
        r = await upload(http, user, jpeg_with_gps(320, 240))
        other = r.json()["data"]["media_id"]
        await wait_status(http, user, other)
    assert all(key.startswith(other) for key in await stored_keys(media.settings))
