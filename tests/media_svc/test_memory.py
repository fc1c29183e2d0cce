"""A 60 MiB upload is streamed: neither the gateway nor media_svc grows by more than 20 MiB.

Measured as the resident set size (RSS) of the gateway and media_svc running as their own
processes (`python -m gateway`, `python -m media_svc`), sampled every few milliseconds with
psutil while the upload runs. RSS rather than tracemalloc because it counts everything an
operator pays for (C buffers, sockets, allocator slack), and separate processes so the test's
own client (which reads the file) is not counted. The worker is not started: this measures
the upload path only."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.media import make_mp4, padded_mp4
from tests.support.natsd import NatsServer, wait_port
from tests.support.ports import free_port
from tests.support.s3 import MotoServer, s3_settings
from tests.support.users import sign_up

MiB = 1024 * 1024
UPLOAD = 60 * MiB
BUDGET = 20 * MiB


@contextmanager
def component(module: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


class PeakRss:
    """Samples the RSS of some processes on a thread until stopped; keeps the highest seen."""

    def __init__(self, pids: list[int], interval: float = 0.005) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self.interval = interval
        self.peak = [p.memory_info().rss for p in self.processes]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, p in enumerate(self.processes):
                self.peak[i] = max(self.peak[i], p.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["local", "s3"])
async def test_60_mib_upload_streams_without_growing_gateway_or_service(
    storage: str, tmp_path: Path, request: pytest.FixtureRequest, nats_server: NatsServer
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "warning",
        "MAX_VIDEO_BYTES": str(100 * MiB),
        # `sign_up` (tests/support/users.py) needs the account at once, retried until the mesh is up.
        "SIGNUP_CONFIRMATION": "none",
        "SIGNUP_RATE_PER_CLIENT": "1000",
    }
    if storage == "s3":
        moto: MotoServer = request.getfixturevalue("moto")
        extra = s3_settings(moto)
        env.update({k.upper(): str(v) for k, v in extra.items()})
        from chassis.settings import Settings
        from tests.support.s3 import create_bucket

        await create_bucket(Settings.from_env({}, **extra))
    clip = make_mp4(tmp_path / "clip.mp4", seconds=1.0, size="320x240")
    big = padded_mp4(clip, tmp_path / "big.mp4", UPLOAD)
    small = padded_mp4(clip, tmp_path / "small.mp4", 4 * MiB)
    with ExitStack() as stack:
        auth = stack.enter_context(component("auth_svc", env, tmp_path / "auth.log"))
        media = stack.enter_context(component("media_svc", env, tmp_path / "media.log"))
        gateway = stack.enter_context(component("gateway", env, tmp_path / "gateway.log"))
        wait_port(port, timeout=30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    user = await sign_up(http)
                    if (await http.get("/media", headers=user.headers)).status_code == 200:
                        break
                except (AssertionError, httpx.HTTPError):
                    pass
                assert time.monotonic() < deadline, "the mesh did not come up"
                time.sleep(0.2)

            async def send(path: Path) -> httpx.Response:
                with open(path, "rb") as f:
                    return await http.post(
                        "/media/uploads", files={"file": (path.name, f, "video/mp4")}, headers=user.headers
                    )

            # Warm up both paths (imports, pools, first object-store use).
            for _ in range(2):
                assert (await send(small)).status_code == 202
            before = [rss(gateway.pid), rss(media.pid)]
            with PeakRss([gateway.pid, media.pid]) as peak:
                r = await send(big)
            assert r.status_code == 202, r.text
            media_id = r.json()["data"]["media_id"]
            item = (await http.get(f"/media/{media_id}", headers=user.headers)).json()["data"]
            assert item["size"] == UPLOAD and item["kind"] == "video"
        growth = {name: peak.peak[i] - before[i] for i, name in enumerate(("gateway", "media_svc"))}
        assert auth.poll() is None and media.poll() is None and gateway.poll() is None
    for name, grew in growth.items():
        assert grew <= BUDGET, f"{name} grew by {grew / MiB:.1f} MiB during a {UPLOAD // MiB} MiB upload"
    if storage == "local":
        stored = list((tmp_path / "data" / "media" / media_id).iterdir())
        assert [p.stat().st_size for p in stored] == [UPLOAD]
