"""Uploads through the gateway on a real nats-server, on local storage and on S3 (moto):
what a user sends, the events they see, the variants they can fetch, what is refused."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
from PIL import Image

from chassis.settings import Settings
from tests.media_svc.conftest import StartMedia
from tests.support.media import (
    exif_has_gps,
    jpeg_with_gps,
    make_mp4,
    media_events,
    new_persona,
    new_user,
    png_bomb,
    png_bytes,
    progress_of,
    stored_keys,
    top_level_boxes,
    upload,
    wait_status,
)
from tests.support.sse import open_stream

MiB = 1024 * 1024


async def fetch(url: str) -> httpx.Response:
    """Fetch a returned URL as a browser would: as is, no credentials."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        return await http.get(url)


async def bodies_left(settings: Settings) -> int:
    nc = await nats.connect(settings.nats_url)
    try:
        return int((await nc.jetstream().stream_info("OBJ_bodies")).state.messages)
    finally:
        await nc.close()


async def test_jpeg_upload_events_variants_and_no_gps(start_media: StartMedia) -> None:
    media = await start_media()
    photo = jpeg_with_gps(2400, 1800)
    assert exif_has_gps(photo)
    async with media.http() as http:
        user = await new_user(http)
        async with open_stream(http, headers=user.headers, params={"last_event_id": "0"}) as stream:
            r = await upload(http, user, photo)
            assert r.status_code == 202, r.text
            accepted = r.json()["data"]
            assert set(accepted) == {"job_id", "media_id"}
            events = await media_events(stream, accepted["media_id"])
        names = [e.event for e in events]
        assert names[-1] == "media_ready", names
        assert set(names[:-1]) == {"media_progress"} and len(names) >= 3
        percents = progress_of(events)
        assert percents == sorted(percents) and percents[-1] == 100
        assert {e.data["job_id"] for e in events} == {accepted["job_id"]}
        ready = events[-1].data
        assert (ready["width"], ready["height"]) == (2400, 1800)

        item = await wait_status(http, user, accepted["media_id"])
        assert item["status"] == "ready" and item["kind"] == "image" and item["source"] == "upload"
        assert (item["width"], item["height"]) == (2400, 1800)
        urls = item["urls"]
        assert set(k for k, v in urls.items() if v) == {"original", "optimized", "thumbnail"}
        expected = {
            "original": (2400, 1800, "JPEG"),
            "optimized": (1600, 1200, "WEBP"),
            "thumbnail": (256, 192, "WEBP"),
        }
        for name, (width, height, fmt) in expected.items():
            assert urls[name].startswith("http"), urls[name]
            got = await fetch(urls[name])
            assert got.status_code == 200, (name, got.status_code, got.text[:200])
            with Image.open(io.BytesIO(got.content)) as image:
                assert (image.width, image.height, image.format) == (width, height, fmt), name
            assert not exif_has_gps(got.content), f"GPS left in {name}"
            assert b"TestCam" not in got.content, f"EXIF left in {name}"
        # The original keeps its pixels: same JPEG data, only the metadata segments are gone.
        original = (await fetch(urls["original"])).content
        assert original[-2:] == b"\xff\xd9" and len(original) < len(photo)
        r = await http.get(f"/media/jobs/{accepted['job_id']}", headers=user.headers)
        assert r.json()["data"]["state"] == "done" and r.json()["data"]["percent"] == 100
    # Only the cleaned original and its variants are kept (the raw upload is gone).
    assert [k.split("/", 1)[1] for k in await stored_keys(media.settings)] == [
        "optimized.webp",
        "original.jpg",
        "thumbnail.webp",
    ]


async def test_exif_orientation_is_applied(start_media: StartMedia) -> None:
    media = await start_media()
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, jpeg_with_gps(1200, 800, orientation=6))
        item = await wait_status(http, user, r.json()["data"]["media_id"])
        assert (item["width"], item["height"]) == (800, 1200)
        for name, size in (("original", (800, 1200)), ("optimized", (800, 1200)), ("thumbnail", (171, 256))):
            got = await fetch(item["urls"][name])
            with Image.open(io.BytesIO(got.content)) as image:
                assert image.size == size, name
                assert image.getexif().get(0x0112) in (None, 1), name


async def test_text_file_named_jpg_is_415_and_nothing_is_stored(start_media: StartMedia) -> None:
    media = await start_media()
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, b"hello, I am only text pretending to be a photo\n" * 100)
        assert r.status_code == 415, r.text
        error = r.json()["error"]
        assert error["code"] == "unsupported_media_type" and error["details"]["field"] == "file"
        assert "image/jpeg" in error["details"]["allowed"]
        listed = await http.get("/media", headers=user.headers)
        assert listed.json()["data"] == []
    assert await stored_keys(media.settings) == []
    assert await bodies_left(media.settings) == 0


async def test_image_over_the_limit_is_413_and_nothing_is_left(start_media: StartMedia) -> None:
    media = await start_media(max_image_bytes=1 * MiB)
    big = png_bytes(1400, 1400)
    assert len(big) > 1 * MiB
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, big, filename="big.png", content_type="image/png")
        assert r.status_code == 413, r.text
        assert r.json()["error"]["details"] == {"field": "file", "limit": MiB, "kind": "image"}
        # Sent chunked (no Content-Length), the limit is enforced on the bytes as they come.
        boundary = "media-test-boundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()

        async def chunked() -> AsyncIterator[bytes]:
            yield head
            for i in range(0, len(big), 64 * 1024):
                yield big[i : i + 64 * 1024]
            yield f"\r\n--{boundary}--\r\n".encode()

        r = await http.post(
            "/media/uploads",
            content=chunked(),
            headers={**user.headers, "content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 413, r.text
        assert (await http.get("/media", headers=user.headers)).json()["data"] == []
    assert await stored_keys(media.settings) == []
    assert await bodies_left(media.settings) == 0


async def test_png_bomb_fails_and_the_worker_lives_on(start_media: StartMedia) -> None:
    media = await start_media()
    bomb = png_bomb(20_000, 20_000)
    assert len(bomb) < 2 * MiB
    async with media.http() as http:
        user = await new_user(http)
        async with open_stream(http, headers=user.headers, params={"last_event_id": "0"}) as stream:
            r = await upload(http, user, bomb, filename="bomb.png", content_type="image/png")
            assert r.status_code == 202, r.text
            media_id = r.json()["data"]["media_id"]
            events = await media_events(stream, media_id)
            assert events[-1].event == "media_failed"
            assert "400 megapixels" in events[-1].data["reason"]
            item = await wait_status(http, user, media_id)
            assert item["status"] == "failed" and "megapixels" in item["error"]
            # The same worker handles the next upload.
            r = await upload(http, user, jpeg_with_gps(640, 480))
            after = await media_events(stream, r.json()["data"]["media_id"])
            assert after[-1].event == "media_ready"
    # Nothing of the failed item is kept.
    assert not [k for k in await stored_keys(media.settings) if k.startswith(media_id)]


async def test_truncated_jpeg_fails(start_media: StartMedia) -> None:
    media = await start_media()
    photo = jpeg_with_gps(1200, 900)
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, photo[: len(photo) // 2])
        assert r.status_code == 202
        item = await wait_status(http, user, r.json()["data"]["media_id"])
        assert item["status"] == "failed" and "truncated" in item["error"]
        assert item["urls"] == {}


async def test_mp4_upload_gives_poster_thumbnail_and_faststart_mp4(
    start_media: StartMedia, tmp_path: Path
) -> None:
    media = await start_media()
    clip = make_mp4(tmp_path / "clip.mp4", seconds=2.0, size="1280x960")
    assert top_level_boxes(clip.read_bytes()).index("mdat") < top_level_boxes(clip.read_bytes()).index("moov")
    async with media.http() as http:
        user = await new_user(http)
        async with open_stream(http, headers=user.headers, params={"last_event_id": "0"}) as stream:
            r = await upload(http, user, clip.read_bytes(), filename="clip.mp4", content_type="video/mp4")
            assert r.status_code == 202, r.text
            media_id = r.json()["data"]["media_id"]
            events = await media_events(stream, media_id)
        assert events[-1].event == "media_ready", events[-1]
        percents = progress_of(events)
        assert percents == sorted(percents) and percents[-1] == 100
        assert "optimized" in {e.data["stage"] for e in events if e.event == "media_progress"}
        item = await wait_status(http, user, media_id)
        assert item["kind"] == "video" and item["status"] == "ready"
        assert (item["width"], item["height"]) == (1280, 960) and 1.9 <= item["duration"] <= 2.1
        optimized = await fetch(item["urls"]["optimized"])
        assert optimized.headers["content-type"] == "video/mp4"
        # Players seek with Range requests, on local storage (the gateway) and on S3 alike.
        async with httpx.AsyncClient(timeout=30.0) as plain:
            part = await plain.get(item["urls"]["optimized"], headers={"range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == optimized.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(optimized.content)}"
        boxes = top_level_boxes(optimized.content)
        assert boxes.index("moov") < boxes.index("mdat"), boxes
        assert b"+37.7749" not in optimized.content
        probe = tmp_path / "optimized.mp4"
        probe.write_bytes(optimized.content)
        from generation_worker.media.ffmpeg import probe as ffprobe

        info = await ffprobe(probe)
        assert (info.width, info.height) == (960, 720)
        assert info.video_codec == "h264" and info.audio_codec == "aac"
        original = await fetch(item["urls"]["original"])
        assert b"+37.7749" not in original.content
        for name, size in (("poster", (960, 720)), ("thumbnail", (256, 192))):
            got = await fetch(item["urls"][name])
            with Image.open(io.BytesIO(got.content)) as image:
                assert (image.format, image.size) == ("WEBP", size), name


async def test_delete_removes_every_stored_object(start_media: StartMedia) -> None:
    media = await start_media()
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, jpeg_with_gps(800, 600))
        media_id = r.json()["data"]["media_id"]
        item = await wait_status(http, user, media_id)
        assert len([k for k in await stored_keys(media.settings) if k.startswith(media_id)]) == 3
        other = await new_user(http, "other")
        assert (await http.delete(f"/media/{media_id}", headers=other.headers)).status_code == 404
        r = await http.delete(f"/media/{media_id}", headers=user.headers)
        assert r.status_code == 204, r.text
        assert (await http.get(f"/media/{media_id}", headers=user.headers)).status_code == 404
        assert await stored_keys(media.settings) == []
        gone = await fetch(item["urls"]["thumbnail"])
        assert gone.status_code in (403, 404)


async def test_private_media_is_the_owners_until_made_public(start_media: StartMedia) -> None:
    media = await start_media()
    async with media.http() as http:
        owner, other = await new_user(http, "owner"), await new_user(http, "other")
        persona_id = await new_persona(http, owner, "public")
        r = await upload(http, owner, jpeg_with_gps(320, 240), fields={"persona_id": persona_id})
        media_id = r.json()["data"]["media_id"]
        await wait_status(http, owner, media_id)
        assert (await http.get(f"/media/{media_id}", headers=other.headers)).status_code == 404
        assert (await http.get(f"/media/{media_id}/content", headers=other.headers)).status_code == 404
        listed = await http.get("/media", params={"persona_id": persona_id}, headers=other.headers)
        assert listed.json()["data"] == []
        r = await http.patch(f"/media/{media_id}", json={"visibility": "public"}, headers=other.headers)
        assert r.status_code == 404
        r = await http.patch(f"/media/{media_id}", json={"visibility": "public"}, headers=owner.headers)
        assert r.status_code == 200 and r.json()["data"]["visibility"] == "public"
        seen = await http.get(f"/media/{media_id}", headers=other.headers)
        assert seen.status_code == 200 and seen.json()["data"]["urls"]["thumbnail"]
        listed = await http.get("/media", params={"persona_id": persona_id}, headers=other.headers)
        assert [m["id"] for m in listed.json()["data"]] == [media_id]
        assert (await http.delete(f"/media/{media_id}", headers=other.headers)).status_code == 403


async def test_content_streams_the_cleaned_original(start_media: StartMedia) -> None:
    media = await start_media()
    photo = jpeg_with_gps(1600, 1200)
    async with media.http() as http:
        user = await new_user(http)
        r = await upload(http, user, photo)
        media_id = r.json()["data"]["media_id"]
        item = await wait_status(http, user, media_id)
        r = await http.get(f"/media/{media_id}/content", headers=user.headers)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content == (await fetch(item["urls"]["original"])).content
        assert not exif_has_gps(r.content)


async def test_list_pages_newest_first(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        user = await new_user(http)
        ids = []
        for i in range(5):
            r = await upload(http, user, png_bytes(32 + i, 32))
            ids.append(r.json()["data"]["media_id"])
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            r = await http.get("/media", params=params, headers=user.headers)
            assert r.status_code == 200, r.text
            seen += [m["id"] for m in r.json()["data"]]
            cursor = r.json()["meta"].get("next_cursor")
            if not cursor:
                break
        assert seen == ids[::-1]
        assert all(m["status"] == "processing" for m in r.json()["data"])
        r = await http.get("/media", params={"cursor": "bogus!"}, headers=user.headers)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "query.cursor"


async def test_bad_requests_name_the_problem(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        user = await new_user(http)
        r = await http.post("/media/uploads", json={"file": "x"}, headers=user.headers)
        assert r.status_code == 415 and r.json()["error"]["details"]["field"] == "file"
        r = await http.post(
            "/media/uploads", data={"persona_id": "p"}, files={"other": ("a", b"x")}, headers=user.headers
        )
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "file"
        r = await upload(http, user, jpeg_with_gps(64, 64), fields={"persona_id": "bad id!"})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "persona_id"
        r = await upload(http, user, jpeg_with_gps(64, 64), fields={"visibility": "everyone"})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "visibility"
        r = await upload(http, user, b"", filename="empty.jpg")
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "file"
        assert (await http.get("/media/not-a-uuid", headers=user.headers)).status_code == 404
        assert (await http.get("/media/jobs/not-a-uuid", headers=user.headers)).status_code == 404
        anonymous = await http.post("/media/uploads", files={"file": ("a.jpg", b"x")})
        assert anonymous.status_code == 401
        assert (await http.get("/media", headers=user.headers)).json()["data"] == []
    assert await stored_keys(media.settings) == []
