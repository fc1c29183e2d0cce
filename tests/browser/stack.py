"""The dev launcher (`python -m chassis.devstack`) as a subprocess on free ports, with its output
kept so tests can read what a developer reads in the terminal (the `[DEV] auth code` line)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

from chassis.components import COMPONENTS
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CODE_LINE = r"\[DEV\] auth code created — use this code to log in code=(\d{6})"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_range(count: int) -> int:
    start = 20000 + (os.getpid() % 97) * 211
    for base in range(start, 60000, 53):
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range")


class DevStack:
    # Stacks by URL: a page's address finds the terminal its `[DEV]` codes are printed in.
    running: ClassVar[dict[str, DevStack]] = {}

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.health_base = free_range(len(COMPONENTS) + 1)  # and a model server's
        self.nats_port = free_port()
        environ = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
        environ.update(
            PORT=str(self.port),
            HEALTH_PORT_BASE=str(self.health_base),
            NATS_PORT=str(self.nats_port),
            DATA_DIR=str(data_dir),
            PYTHONUNBUFFERED="1",
            PASSWORD_HASH_COST="4",  # bcrypt's floor: sign-ups in tests cost milliseconds
            TEXT_PROVIDER="offline",  # deterministic replies; the real model: tests/model_server
            SEED_STARTERS="false",  # the explore page holds only what a test made
            SIGNUP_RATE_PER_CLIENT="1000",  # a module signs up many people from one address
        )
        environ.update(env or {})
        self.env = environ
        self.url = f"http://127.0.0.1:{self.port}"
        DevStack.running[self.url] = self
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 150.0) -> DevStack:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "chassis.devstack"],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for(rf"ready: open http://localhost:{self.port}", timeout=timeout)
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                self.lines.append(line)

    def mark(self) -> int:
        with self._lock:
            return len(self.lines)

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 30.0) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines[after:]:
                    if found := rx.search(line):
                        return found
            if self._process is not None and self._process.poll() is not None:
                break
            time.sleep(0.05)
        with self._lock:
            tail = "".join(self.lines[-60:])
        raise AssertionError(f"no output line matching {pattern!r}; last lines:\n{tail}")

    def auth_code(self, after: int) -> str:
        """The code of the first `[DEV] auth code` line printed after `after`."""
        return self.wait_for(CODE_LINE, after=after).group(1)

    @classmethod
    def serving(cls, url: str) -> DevStack:
        """The stack a page of `url` talks to."""
        return next(stack for base, stack in cls.running.items() if f"{url}/".startswith(f"{base}/"))

    def pid(self, component: str) -> int:
        """The newest pid the launcher reported for `component` (it restarts children)."""
        with self._lock:
            found = re.findall(rf"started {re.escape(component)} pid=(\d+)", "".join(self.lines))
        assert found, f"{component} never started"
        return int(found[-1])

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        self._process = None
