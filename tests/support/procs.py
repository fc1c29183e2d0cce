"""The tests' processes: components of the mesh as real subprocesses (`python -m <module>`, as
`make dev` starts them), each with its own health port, its output in a log file, stopped or
killed by process id; and the dev launcher itself, its output read as a developer reads it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chassis.children import stop
from tests.support.paths import REPO
from tests.support.poll import eventually
from tests.support.ports import free_port

# Quiet, plain logs in the files; each component reads its settings from these variables.
# PASSWORD_HASH_COST: bcrypt's floor, so the many sign-ups of a fault run cost milliseconds;
# TEXT_PROVIDER: deterministic replies (the real model is tested in tests/model_server);
# SEED_STARTERS: listings hold only what a test made;
# SIGNUP_*: accounts at once, many from one address (tests/support/users.py `sign_up`; the
# emailed-code sign-up is tested in tests/auth_svc/test_signup.py).
BASE_ENV = {
    "LOG_LEVEL": "warning",
    "LOG_JSON": "false",
    "PYTHONUNBUFFERED": "1",
    "PASSWORD_HASH_COST": "4",
    "TEXT_PROVIDER": "offline",
    "SEED_STARTERS": "false",
    "SIGNUP_CONFIRMATION": "none",
    "SIGNUP_RATE_PER_CLIENT": "1000",
}


@dataclass
class Proc:
    """One component process. `port` is its health port (the gateway's: its HTTP port)."""

    name: str
    module: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Proc:
        env = {**os.environ, **BASE_ENV, **self.env}
        env["PORT" if self.module == "gateway" else "HEALTH_PORT"] = str(self.port)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            # Its own process group: a kill takes its children (ffmpeg) with it, as a container's would.
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Until `/readyz` answers 200 (NATS, the database, storage reachable)."""
        await self._wait_for("/readyz", "ready", timeout, 0.2)

    async def wait_alive(self, timeout: float = 60.0) -> None:
        """Until `/healthz` answers 200: started, whatever its dependencies say."""
        await self._wait_for("/healthz", "alive", timeout, 0.1)

    async def _wait_for(self, probe: str, state: str, timeout: float, every: float) -> None:
        last = "no answer yet"
        async with httpx.AsyncClient(timeout=3.0) as http:

            async def answers() -> bool:
                nonlocal last
                if not self.alive:
                    raise RuntimeError(f"{self.name} exited during start-up:\n{self.tail()}")
                try:
                    response = await http.get(f"{self.url}{probe}")
                except httpx.HTTPError as exc:
                    last = f"no answer: {exc!r}"
                    return False
                last = f"{response.status_code} {response.text[:500]}"
                return response.status_code == 200

            try:
                await eventually(answers, timeout, f"{self.name} {state}", every)
            except AssertionError:
                raise RuntimeError(
                    f"{self.name} not {state} after {timeout:.0f}s; {probe} said: {last}\n{self.tail()}"
                ) from None

    async def metric(self, name: str, labels: str = "") -> float:
        """One sample of the component's `/metrics` (0 when absent), e.g. `persona_jobs_running`
        with labels `kind="media-video"`."""
        async with httpx.AsyncClient(timeout=5.0) as http:
            text = (await http.get(f"{self.url}/metrics")).text
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key == wanted:
                return float(value)
        return 0.0

    def kill(self) -> None:
        """SIGKILL to the process and its children: no clean-up, no goodbye to the bus."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Procs:
    """The processes one test started; `stop()` ends each of them (SIGTERM, then SIGKILL)."""

    def __init__(self, folder: Path, common_env: dict[str, str]) -> None:
        self.folder = folder
        self.common_env = common_env
        self.all: list[Proc] = []

    def start(self, name: str, module: str, port: int | None = None, **env: str) -> Proc:
        proc = Proc(
            name, module, {**self.common_env, **env}, self.folder / f"{name}.log", port or free_port()
        )
        self.all.append(proc.start())
        return proc

    async def wait_ready(self, procs: list[Proc] | None = None, timeout: float = 90.0) -> None:
        await asyncio.gather(*(p.wait_ready(timeout) for p in (procs or self.all)))

    def stop(self, timeout: float = 30.0) -> None:
        for proc in reversed(self.all):
            proc.terminate()
        for proc in reversed(self.all):
            proc.wait(timeout)


class Output:
    """A process's output, line by line as it prints it (read by a thread)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.process = process
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line)

    def mark(self) -> int:
        """Where the output is now: `wait_for(after=mark)` looks only at what comes next."""
        with self._lock:
            return len(self.lines)

    def text(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def tail(self, lines: int = 60) -> str:
        with self._lock:
            return "".join(self.lines[-lines:])

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 90.0) -> re.Match[str]:
        """The first line after `after` matching `pattern`; fails after `timeout`, or at once
        when the process has ended and all it printed has been read."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            ended = not self._reader.is_alive()
            with self._lock:
                for line in self.lines[after:]:
                    if found := rx.search(line):
                        return found
            if ended or time.monotonic() > deadline:
                raise AssertionError(f"no output line matching {pattern!r}; last lines:\n{self.tail()}")
            time.sleep(0.05)

    def close(self) -> None:
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def launch_devstack(env: dict[str, str]) -> tuple[subprocess.Popen[str], Output]:
    """`python -m chassis.devstack` (`make dev`) with exactly `env`, and its output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chassis.devstack"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, Output(process)


def interrupt(process: subprocess.Popen[str], out: Output, timeout: float = 40.0) -> bool:
    """Ctrl-C, as a developer stops `make dev`; killed if it has not stopped after `timeout`.
    False when it had to be killed."""
    try:
        return stop(process, sig=signal.SIGINT, timeout=timeout)
    finally:
        out.close()
