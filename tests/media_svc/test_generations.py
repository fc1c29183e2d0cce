"""Image and video generation through the gateway: progress that only goes forward, results
labelled for what they are, the per-user quota."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image

from generation_worker.media.ffmpeg import probe
from tests.media_svc.conftest import StartMedia
from tests.support.images_standin import ImagesStandIn
from tests.support.media import (
    jpeg_with_gps,
    media_events,
    new_persona,
    new_user,
    progress_of,
    top_level_boxes,
    upload,
    wait_status,
)
from tests.support.mesh import Mesh
from tests.support.sse import open_stream


async def fetch(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=30.0) as http:
        r = await http.get(url)
        assert r.status_code == 200, (url, r.status_code)
        return r.content


async def test_image_generation_progresses_and_is_labelled(start_media: StartMedia) -> None:
    media = await start_media()
    async with media.http() as http:
        user = await new_user(http)
        persona_id = await new_persona(http, user)
        async with open_stream(http, headers=user.headers, params={"last_event_id": "0"}) as stream:
            body = {"persona_id": persona_id, "kind": "image", "prompt": "a misty ocean at sunset"}
            r = await http.post("/media/generations", json=body, headers=user.headers)
            assert r.status_code == 202, r.text
            media_id = r.json()["data"]["media_id"]
            events = await media_events(stream, media_id)
        assert events[-1].event == "media_ready", events[-1]
        percents = progress_of(events)
        assert percents == sorted(percents) and percents[-1] == 100 and len(set(percents)) >= 5
        stages = [e.data["stage"] for e in events if e.event == "media_progress"]
        assert stages[0] == "generate" and "store" in stages
        assert events[-1].data["provider"] == "procedural"
        item = await wait_status(http, user, media_id)
        assert item["source"] == "generation" and item["prompt"] == "a misty ocean at sunset"
        assert item["provider"] == "procedural" and "no AI model" in item["label"]
        assert (item["width"], item["height"]) == (1024, 1024)
        with Image.open(io.BytesIO(await fetch(item["urls"]["thumbnail"]))) as thumb:
            assert thumb.size == (256, 256)
        original = await fetch(item["urls"]["original"])
        # Deterministic: the same prompt for the same persona draws the same picture.
        r = await http.post("/media/generations", json=body, headers=user.headers)
        again = await wait_status(http, user, r.json()["data"]["media_id"])
        assert await fetch(again["urls"]["original"]) == original


async def test_video_generation_is_a_slideshow_of_the_personas_images(
    start_media: StartMedia, tmp_path: Path
) -> None:
    media = await start_media()
    async with media.http() as http:
        user = await new_user(http)
        persona_id = await new_persona(http, user, "public")
        for size in ((1200, 800), (600, 900)):
            r = await upload(http, user, jpeg_with_gps(*size), fields={"persona_id": persona_id})
            await wait_status(http, user, r.json()["data"]["media_id"])
        # Someone else cannot add an image to the persona, so none slips into the video.
        other = await new_user(http, "other")
        r = await upload(http, other, jpeg_with_gps(300, 300), fields={"persona_id": persona_id})
        assert r.status_code == 403, r.text
        async with open_stream(http, headers=user.headers, params={"last_event_id": "0"}) as stream:
            body = {"persona_id": persona_id, "kind": "video", "prompt": "a walk along the shore"}
            r = await http.post("/media/generations", json=body, headers=user.headers)
            assert r.status_code == 202, r.text
            media_id = r.json()["data"]["media_id"]
            events = await media_events(stream, media_id, timeout=120)
        assert events[-1].event == "media_ready", events[-1]
        percents = progress_of(events)
        assert percents == sorted(percents) and percents[-1] == 100
        render = [
            e.data["percent"] for e in events if e.event == "media_progress" and e.data["stage"] == "render"
        ]
        assert len(render) >= 2, "ffmpeg's frame counts should move the progress on the way"
        item = await wait_status(http, user, media_id)
        assert item["kind"] == "video" and item["provider"] == "slideshow" and "no AI model" in item["label"]
        # A 2.5 s title card, then 3 s for each of the user's two images.
        assert 8.0 <= item["duration"] <= 9.0, item["duration"]
        video = await fetch(item["urls"]["optimized"])
        boxes = top_level_boxes(video)
        assert boxes.index("moov") < boxes.index("mdat")
        (tmp_path / "v.mp4").write_bytes(video)
        info = await probe(tmp_path / "v.mp4")
        assert (info.width, info.height, info.video_codec) == (1280, 720, "h264")
        assert item["urls"]["poster"] and item["urls"]["thumbnail"]


async def test_video_needs_images_of_the_persona(start_media: StartMedia) -> None:
    media = await start_media(worker=False)
    async with media.http() as http:
        user = await new_user(http)
        body = {"persona_id": await new_persona(http, user), "kind": "video", "prompt": "anything"}
        r = await http.post("/media/generations", json=body, headers=user.headers)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "persona_id"
        r = await http.post("/media/generations", json={**body, "kind": "song"}, headers=user.headers)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "kind"
        r = await http.post("/media/generations", json={**body, "prompt": ""}, headers=user.headers)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "prompt"


async def test_quota_of_running_generations(start_media: StartMedia) -> None:
    media = await start_media(worker=False, max_generations_per_user=2)
    async with media.http() as http:
        user, other = await new_user(http), await new_user(http, "other")
        body = {"persona_id": await new_persona(http, user), "kind": "image", "prompt": "a lighthouse"}
        others = {**body, "persona_id": await new_persona(http, other)}
        first = [await http.post("/media/generations", json=body, headers=user.headers) for _ in range(2)]
        assert [r.status_code for r in first] == [202, 202]
        r = await http.post("/media/generations", json=body, headers=user.headers)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
        assert (await http.post("/media/generations", json=others, headers=other.headers)).status_code == 202
        # Uploads are not generations: still accepted.
        assert (await upload(http, user, jpeg_with_gps(64, 64))).status_code == 202
        # Once the queued ones finish, the user may generate again.
        await media.start_worker()
        for r in first:
            assert (await wait_status(http, user, r.json()["data"]["media_id"]))["status"] == "ready"
        assert (await http.post("/media/generations", json=body, headers=user.headers)).status_code == 202


async def test_openai_compatible_image_provider(start_media: StartMedia, stack: Mesh) -> None:
    standin = ImagesStandIn(script=[500, "b64"])
    server = await stack.server(standin.app())
    media = await start_media(
        image_provider="openai",
        image_base_url=f"{server.url}/v1",
        image_api_key="sk-test",
        image_model="gpt-image-1",
    )
    async with media.http() as http:
        user = await new_user(http)
        body = {"persona_id": await new_persona(http, user), "kind": "image", "prompt": "a red fox"}
        r = await http.post("/media/generations", json=body, headers=user.headers)
        item = await wait_status(http, user, r.json()["data"]["media_id"])
    assert item["status"] == "ready" and item["provider"] == "openai"
    assert item["label"] == "Generated by the image model gpt-image-1"
    # The 500 was retried as a new delivery of the job; then the image was used.
    assert len(standin.requests) == 2
    sent = standin.requests[-1]
    assert sent["authorization"] == "Bearer sk-test"
    assert sent["body"]["model"] == "gpt-image-1" and sent["body"]["prompt"].startswith("a red fox")
