"""`make dev`'s launcher as a user runs it: a real process tree on free ports."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import httpx

from chassis.components import COMPONENTS, MODEL_SERVER, health_port
from chassis.discover import table
from tests.support.model import SMALL_MODEL, model_server
from tests.support.paths import REPO
from tests.support.ports import free_port, free_range
from tests.support.procs import Output, interrupt, launch_devstack
from tests.support.tls import self_signed


def launch(**settings: str) -> tuple[subprocess.Popen[str], Output]:
    """`python -m chassis.devstack` with `settings`, as on a fresh laptop: the machine's NATS_URL
    and DATABASE_URL would point it at those servers instead of its embedded bus and memory stores.
    Canned replies unless `settings` choose a model (the default model is `make dev`'s, not the tests')."""
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL", "LLM_BASE_URL")}
    env["TEXT_PROVIDER"] = "offline"
    env.update(settings)
    return launch_devstack(env)


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_launcher_starts_supervises_and_stops_the_stack(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    nats_port = taken.getsockname()[1]
    port = free_port()
    base = free_range(len(COMPONENTS))
    process, out = launch(
        NATS_PORT=str(nats_port), PORT=str(port), HEALTH_PORT_BASE=str(base), DATA_DIR=str(tmp_path / "data")
    )
    try:
        out.wait_for(rf"port {nats_port} is taken; the embedded nats-server uses \d+")
        out.wait_for(rf"ready: open http://localhost:{port}")
        assert status(f"http://127.0.0.1:{port}/readyz") == 200
        # Services are in the gateway's readiness; the worker is not: wait for its port too.
        deadline = time.monotonic() + 60
        for component in COMPONENTS:
            health = health_port(component, base)
            while _status_or_zero(f"http://127.0.0.1:{health}/healthz") != 200:
                assert time.monotonic() < deadline, f"health port {health} never answered"
                time.sleep(0.2)
        # The gateway's metrics are on its health port, never on its public port.
        gateway_health = health_port(next(c for c in COMPONENTS if c.kind == "gateway"), base)
        assert status(f"http://127.0.0.1:{gateway_health}/metrics") == 200
        assert status(f"http://127.0.0.1:{port}/metrics") == 404
        assert (tmp_path / "data" / "nats").is_dir()

        pids = {m[0]: int(m[1]) for m in re.findall(r"started (\S+) pid=(\d+)", out.text())}
        assert set(pids) >= {"nats", "gateway", "auth_svc", "persona_svc", "media_svc", "generation_worker"}
        mark = out.mark()
        os.kill(pids["auth_svc"], signal.SIGKILL)
        out.wait_for(r"auth_svc exited with code -9; restarting", after=mark)
        restarted = int(out.wait_for(r"started auth_svc pid=(\d+)", after=mark).group(1))
        assert restarted != pids["auth_svc"]
        deadline = time.monotonic() + 30
        while status(f"http://127.0.0.1:{port}/readyz") != 200:
            assert time.monotonic() < deadline, "stack not ready again after the restart"
            time.sleep(0.2)

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        out.wait_for(r"devstack \| stopped")
        for name, pid in pids.items():
            if name != "auth_svc":
                assert not _alive(pid), f"{name} still running"
        assert not _alive(restarted)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        out.close()
        taken.close()


def test_children_do_not_outlive_a_killed_launcher(tmp_path: Path) -> None:
    port = free_port()
    base = free_range(len(COMPONENTS))
    process, out = launch(
        PORT=str(port), HEALTH_PORT_BASE=str(base), NATS_PORT=str(free_port()), DATA_DIR=str(tmp_path)
    )
    try:
        out.wait_for(r"started generation_worker pid=\d+")
        pids = [int(p) for p in re.findall(r"started \S+ pid=(\d+)", out.text())]
        process.kill()
        process.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "children outlived the killed launcher"
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        out.close()


def _status_or_zero(url: str) -> int:
    try:
        return status(url)
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its parent's reap counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_discover_lists_every_component() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chassis.discover"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out == table() + "\n"
    for name, port in [
        ("gateway", 8000),
        ("auth_svc", 8001),
        ("persona_svc", 8002),
        ("media_svc", 8003),
        ("generation_worker", 8004),
        ("gateway", 8005),
        ("model_server", 8006),
    ]:
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert f" {port} " in row
    assert "http.auth" in out and "jobs.chat" in out and "results.media" in out


def shut_down(process: subprocess.Popen[str], out: Output) -> None:
    assert interrupt(process, out, timeout=30), "the launcher did not stop within 30 s of Ctrl-C"


class Visitor:
    """A user of a running dev stack, through its gateway, with a persona to chat with."""

    def __init__(self, url: str, out: Output) -> None:
        self.out = out
        self.http = httpx.Client(base_url=url, timeout=30)
        email = f"dev-{uuid.uuid4().hex[:8]}@example.com"
        mark = out.mark()
        password = "correct horse battery"
        r = self.http.post("/auth/register", json={"email": email, "password": password})
        assert r.status_code == 202, r.text
        # The sign-up completes with the code `make dev` prints instead of mailing it.
        code = out.wait_for(r"\[DEV\] auth code created .* code=(\d{6})", after=mark).group(1)
        r = self.http.post("/auth/code/verify", json={"email": email, "code": code, "password": password})
        assert r.status_code == 200, r.text
        self.http.headers["Authorization"] = f"Bearer {r.json()['data']['access_token']}"
        body = {
            "name": "Mira",
            "description": "A ship's captain.",
            "greeting": "Ahoy.",
            "visibility": "private",
        }
        persona = self.http.post("/personas", json=body).json()["data"]
        self.conversation = self.http.post(f"/personas/{persona['id']}/conversations").json()["data"]
        self.cid = self.conversation["conversation"]["id"]

    def __enter__(self) -> Visitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def send(self, content: str) -> str:
        r = self.http.post(f"/conversations/{self.cid}/messages", json={"content": content})
        assert r.status_code == 202, r.text
        return str(r.json()["data"]["reply_message_id"])

    def send_until_streaming(self, content: str) -> str:
        """Send, and return once the first token of the reply arrived on the user's event stream."""
        with self.http.stream("GET", "/events", timeout=60) as events:
            reply_id = self.send(content)
            for line in events.iter_lines():
                if line.startswith("data:") and '"ai_chat_chunk"' in line and reply_id in line:
                    return reply_id
        raise AssertionError("the event stream ended before the reply started")

    def reply(self, message_id: str) -> dict[str, Any]:
        for m in self.http.get(f"/conversations/{self.cid}/messages").json()["data"]:
            if m["id"] == message_id:
                return dict(m)
        return {}

    def wait_reply(self, message_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (m := self.reply(message_id)).get("status") in (None, "pending", "streaming"):
            assert time.monotonic() < deadline, f"no reply after {timeout:.0f}s: {m}\n{self.out.tail(80)}"
            time.sleep(0.2)
        return m


def launch_with_a_model(tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[str], Output, int, int]:
    """The stack with a text model (embedded, or the one `settings` name), on free ports: the
    launcher, its output, the gateway's port and the first health port."""
    port, base = free_port(), free_range(len(COMPONENTS) + 1)
    process, out = launch(
        PORT=str(port),
        HEALTH_PORT_BASE=str(base),
        NATS_PORT=str(free_port()),
        DATA_DIR=str(tmp_path / "data"),
        TEXT_PROVIDER="",
        **settings,
    )
    return process, out, port, base


def test_the_embedded_model_answers_and_is_restarted_when_it_dies(tmp_path: Path) -> None:
    process, out, port, base = launch_with_a_model(
        tmp_path,
        MODEL_SERVER_MODEL="smollm2-135m-instruct",
        JOB_BACKOFF_BASE="0.5",
        PERSONA_REPLY_MAX_TOKENS="200",
        LOG_JSON="false",
    )
    try:
        out.wait_for(rf"ready: open http://localhost:{port}", timeout=180)
        # The model is a component like the others: its load and speed logged, its health port up.
        out.wait_for(r"model loaded .*load_seconds=[\d.]+ model=smollm2-135m-instruct")
        out.wait_for(r"model ready .*tokens_per_second=[\d.]+")
        assert status(f"http://127.0.0.1:{health_port(MODEL_SERVER, base)}/readyz") == 200
        with Visitor(f"http://127.0.0.1:{port}", out) as visitor:
            reply = visitor.wait_reply(visitor.send("Hello! Who are you?"))
            assert reply["status"] == "done" and reply["content"].strip()

            # Killed in the middle of a reply: the launcher restarts it and the job's retry finishes.
            pid = int(re.findall(r"started model_server pid=(\d+)", out.text())[-1])
            reply_id = visitor.send_until_streaming(
                "Tell me a very long story about the sea, in many paragraphs."
            )
            mark = out.mark()
            os.kill(pid, signal.SIGKILL)
            out.wait_for(r"model_server exited with code -9; restarting", after=mark)
            out.wait_for(r"started model_server pid=\d+", after=mark)
            reply = visitor.wait_reply(reply_id)
            assert reply["status"] == "done" and reply["content"].strip()
    finally:
        shut_down(process, out)


async def test_with_llm_base_url_no_embedded_model_starts(tmp_path: Path) -> None:
    async with model_server(tmp_path / "external") as external:
        process, out, port, base = launch_with_a_model(
            tmp_path,
            LLM_BASE_URL=external.base_url,
            LLM_API_KEY=external.key,
            LLM_MODEL=SMALL_MODEL,
        )
        try:
            out.wait_for(rf"ready: open http://localhost:{port}", timeout=120)
            out.wait_for(rf"using the text model at {re.escape(external.base_url)}; no embedded model")
            assert "started model_server" not in out.text()
            assert _status_or_zero(f"http://127.0.0.1:{health_port(MODEL_SERVER, base)}/healthz") == 0
            # The worker's readiness includes the model it was pointed at.
            worker_port = health_port(next(c for c in COMPONENTS if c.kind == "worker"), base)
            worker = f"http://127.0.0.1:{worker_port}/readyz"
            deadline = time.monotonic() + 60
            while _status_or_zero(worker) != 200:
                assert time.monotonic() < deadline, "the worker never became ready"
                await asyncio.sleep(0.2)
            ready = httpx.get(worker).json()
            assert ready["checks"]["chat:model"] == "ok", ready
            with Visitor(f"http://127.0.0.1:{port}", out) as visitor:
                reply = await asyncio.to_thread(visitor.wait_reply, visitor.send("Hi there"))
                assert reply["status"] == "done" and reply["content"].strip()
        finally:
            shut_down(process, out)


async def test_with_a_certificate_the_launcher_serves_https_with_http2(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    process, out = launch(
        PORT=str(port),
        HEALTH_PORT_BASE=str(free_range(len(COMPONENTS))),
        DATA_DIR=str(tmp_path / "data"),
        TLS_CERT=str(cert),
        TLS_KEY=str(key),
    )
    try:
        # It waits for the gateway over HTTPS, and says where to open it.
        out.wait_for(rf"ready: open https://localhost:{port}")
        context = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=context, http2=True) as http:
            page = await http.get(f"https://localhost:{port}/")
        assert page.status_code == 200 and page.http_version == "HTTP/2"
        assert "<title>Persona Community</title>" in page.text
    finally:
        shut_down(process, out)


def test_free_ports_are_never_given_twice() -> None:
    """Ports are bound later by the processes they are for: a cluster of three nodes asks for
    six before any is bound, and the kernel offers a released port again soon."""
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
