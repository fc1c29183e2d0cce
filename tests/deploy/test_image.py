"""The container image, built here as `make image` builds it (buildah; a Debian base made by
debootstrap when no registry is at hand), runs the mesh: nats-server, every service, the worker
and the gateway start from it on loopback, not as root, and the gateway is ready to serve.

Each process runs in its own working container (`buildah from` + `buildah run --isolation chroot
--network host`: the only way to run the image in this sandbox, where podman's runtime is refused
its rlimits and cgroups). Skipped, saying why, where buildah is missing and cannot be installed
(not root, no apt-get), or when the build outlasts IMAGE_BUILD_BUDGET seconds."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from chassis.children import stop
from chassis.components import COMPONENTS
from scripts import build_image
from tests.support.ports import free_port

# A cold build here (debootstrap, then every wheel) took 4 min on two busy cores; a warm one 13 s.
BUILD_BUDGET = float(os.environ.get("IMAGE_BUILD_BUDGET", "600"))
READY_WITHIN = 120.0
IMAGE_UID = 10001  # deploy/Containerfile's USER
ENV = {
    "HOST": "127.0.0.1",
    "LOG_LEVEL": "warning",
    "LOG_JSON": "false",
    "TEXT_PROVIDER": "offline",
    "SEED_STARTERS": "false",
}

pytestmark = pytest.mark.slow


def tail(path: Path, size: int = 3000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else "(no output)"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not sys.platform.startswith("linux"):
        pytest.skip("buildah builds Linux images on Linux only")
    if os.geteuid() != 0:
        pytest.skip("buildah's chroot isolation needs root here (no rootless user namespaces set up)")
    try:
        build_image.ensure_tools()
    except build_image.Unavailable as exc:
        pytest.skip(f"cannot build the image here: {exc}")
    log = tmp_path_factory.mktemp("image") / "build.log"
    with open(log, "wb") as out:
        build = subprocess.Popen(
            [sys.executable, "-m", "scripts.build_image"],
            cwd=build_image.REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # on timeout, buildah and its children go with it
        )
        try:
            code = build.wait(BUILD_BUDGET)
        except subprocess.TimeoutExpired:
            os.killpg(build.pid, signal.SIGKILL)
            build.wait()
            pytest.skip(f"the image build took over IMAGE_BUILD_BUDGET={BUILD_BUDGET:.0f}s: {tail(log, 500)}")
    assert code == 0, f"the image build failed:\n{tail(log)}"
    return build_image.IMAGE


@dataclass
class Box:
    """One command in its own working container of the image."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, image: str) -> Box:
        subprocess.run(["buildah", "from", "--name", self.name, image], check=True, capture_output=True)
        settings = [arg for key, value in self.env.items() for arg in ("--env", f"{key}={value}")]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                ["buildah", "run", "--isolation", "chroot", "--network", "host", *settings, self.name]
                + ["--", *self.argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def command_process(self) -> psutil.Process:
        """The command itself, below buildah's own processes."""
        assert self.process is not None
        for child in psutil.Process(self.process.pid).children(recursive=True):
            if child.cmdline()[: len(self.argv)] == self.argv:
                return child
        raise AssertionError(f"{self.name}: {self.argv} is not running:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=20, group=True)
        subprocess.run(["buildah", "rm", self.name], capture_output=True)


@pytest.fixture
def boxes() -> Iterator[list[Box]]:
    started: list[Box] = []
    try:
        yield started
    finally:
        for box in reversed(started):  # the bus last
            box.stop()


def wait_ready(url: str, box: Box) -> httpx.Response:
    deadline = time.monotonic() + READY_WITHIN
    response: httpx.Response | None = None
    while time.monotonic() < deadline:
        assert box.process is not None and box.process.poll() is None, f"{box.name} exited:\n{tail(box.log)}"
        try:
            response = httpx.get(url, timeout=5)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return response
        time.sleep(0.5)
    raise AssertionError(
        f"{url} not ready in {READY_WITHIN:.0f}s: {response and response.text}\n{tail(box.log)}"
    )


def test_the_image_runs_the_mesh_as_a_non_root_user(image: str, boxes: list[Box], tmp_path: Path) -> None:
    run = f"persona-image-test-{uuid.uuid4().hex[:8]}"
    nats_port = free_port()
    nats = Box(f"{run}-nats", ["/opt/venv/bin/nats-server", "-a", "127.0.0.1", "-p", str(nats_port), "-js",
               "-sd", "/tmp/nats"], {}, tmp_path / "nats.log")  # fmt: skip
    boxes.append(nats.start(image))
    common = {**ENV, "NATS_URL": f"nats://127.0.0.1:{nats_port}"}
    health: dict[str, tuple[str, Box]] = {}
    for component in COMPONENTS:
        port = free_port()
        env = {**common, ("PORT" if component.kind == "gateway" else "HEALTH_PORT"): str(port)}
        if component.kind == "gateway":
            # As deploy/k8s runs it; at info, its start-up line names the server it runs under.
            env.update(GATEWAY_SERVER="granian", LOG_LEVEL="info")
        box = Box(f"{run}-{component.name}", ["/opt/venv/bin/python", "-m", component.module], env,
                  tmp_path / f"{component.name}.log")  # fmt: skip
        boxes.append(box.start(image))
        health[component.name] = (f"http://127.0.0.1:{port}", box)

    # Every component's own probe, then the gateway's: it pings each service over the bus.
    for url, box in health.values():
        body = wait_ready(f"{url}/readyz", box).json()
        assert body["status"] == "ready" and set(body["checks"].values()) == {"ok"}, body
    gateway_url, gateway = health["gateway"]
    checks = wait_ready(f"{gateway_url}/readyz", gateway).json()["checks"]
    assert checks == {"nats": "ok", "service:auth": "ok", "service:persona": "ok", "service:media": "ok"}
    # The UI's files come from the image's /app/web.
    page = httpx.get(f"{gateway_url}/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    started = re.search(r"gateway starting.*server=granian", gateway.log.read_text(errors="replace"))
    assert started, tail(gateway.log)

    for box in boxes:
        process = box.command_process()
        uids, gids = process.uids(), process.gids()
        assert (uids.real, uids.effective, gids.real) == (IMAGE_UID,) * 3, (box.name, uids, gids)
