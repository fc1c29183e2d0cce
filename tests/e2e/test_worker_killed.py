"""A worker SIGKILLed in the middle of a video job: the other worker finishes it, once."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.clients import Api, Follower, Images, Recorder
from tests.support.mesh import client
from tests.support.natsd import NatsServer
from tests.support.pg import fresh_database
from tests.support.poll import eventually
from tests.support.ports import free_port
from tests.support.procs import Proc, Procs
from tests.support.users import sign_up

pytestmark = pytest.mark.slow  # real processes, a few tens of seconds each

VIDEO_RUNNING = ("persona_jobs_running", 'kind="media-video"')
VIDEO_DONE = ("persona_jobs_total", 'kind="media-video",outcome="done"')


async def test_a_worker_killed_mid_video_job_hands_it_to_the_other(
    nats_server: NatsServer, procs: Procs, postgres_url: str
) -> None:
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    procs.common_env.update(
        {
            "NATS_URL": nats_server.url,
            "DATABASE_URL": await fresh_database(postgres_url),
            "DB_POOL_MAX": "4",
            "PUBLIC_URL": gateway_url,
            "MEDIA_URL_SECRET": "e2e-media-url-secret",
            "IMAGE_SIZE": "256x256",
            # A job whose worker stopped heart-beating is redelivered after 2 s.
            "JOB_ACK_WAIT": "2",
            "WORKER_SHUTDOWN_GRACE": "5",
        }
    )
    for name, module in [("auth", "auth_svc"), ("persona", "persona_svc"), ("media", "media_svc")]:
        procs.start(name, module)
    workers = [procs.start("worker-1", "generation_worker"), procs.start("worker-2", "generation_worker")]
    procs.start("gateway", "gateway", gateway_port)
    await procs.wait_ready()

    recorder = Recorder()
    api = Api(gateway_url, recorder)
    async with client(gateway_url) as http:
        user = await sign_up(http, "director")
    follower = Follower(gateway_url, user)
    follower.start()
    try:
        persona = await api.must(
            "POST",
            "/personas",
            user,
            "persona",
            expect=201,
            json={"name": "Ilse", "description": "A painter.", "greeting": "Hello.", "visibility": "private"},
        )
        media = Images(api, {user.id: follower})
        # A slideshow needs images of the persona: two, made by the workers.
        for n in range(2):
            assert (await media.wait_ready(await media.generate(user, persona["id"], n)))["status"] == "ready"

        video = await media.generate(user, persona["id"], 0, kind="video")
        holder = await _holder(workers)
        other = next(w for w in workers if w is not holder)

        async def rendering() -> bool:
            job = await api.must("GET", f"/media/jobs/{video.job_id}", user, "job")
            return bool(job["stage"] == "render" and job["percent"] > 5)

        await eventually(rendering, 60, "the video job renders")
        holder.kill()
        killed = time.monotonic()
        item = await media.wait_ready(video)
        took = time.monotonic() - killed

        assert item["status"] == "ready", item
        assert item["kind"] == "video" and item["duration"] and item["duration"] > 0
        assert item["urls"]["optimized"] and item["urls"]["poster"]
        assert await other.metric(*VIDEO_DONE) == 1, "the surviving worker did not finish it"
        job = await api.must("GET", f"/media/jobs/{video.job_id}", user, "job")
        assert job["state"] == "done"
        videos = [m for m in await api.pages("/media", user, "list") if m["kind"] == "video"]
        assert [v["id"] for v in videos] == [video.media_id], "the video was stored more than once"
        assert not recorder.failures(), recorder.summary()
    finally:
        await follower.stop()
        await api.close()
    print(
        "\n== worker killed mid-video ==\n"
        f"{holder.name} SIGKILLed while rendering; {other.name} finished the job "
        f"{took:.1f}s later (JOB_ACK_WAIT=2 s, then the whole render again); "
        f"1 video stored, lost: 0; client errors: {recorder.summary()}"
    )


async def _holder(workers: list[Proc]) -> Proc:
    """The worker running the video job (its `persona_jobs_running{kind="media-video"}`)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = await asyncio.gather(*(w.metric(*VIDEO_RUNNING) for w in workers))
        held = [w for w, n in zip(workers, running, strict=True) if n >= 1]
        if held:
            return held[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no worker took the video job")
