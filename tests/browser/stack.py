"""The dev launcher (`python -m chassis.devstack`) as a subprocess on free ports, with its output
kept so tests can read what a developer reads in the terminal (the `[DEV] auth code` line)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import ClassVar

from chassis.components import COMPONENTS
from chassis.devstack import gateway_scheme
from tests.support.ports import free_port, free_range
from tests.support.procs import Output, interrupt, launch_devstack

CODE_LINE = r"\[DEV\] auth code created — use this code to log in code=(\d{6})"


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
        self.scheme = gateway_scheme(environ)
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        DevStack.running[self.url] = self
        self._launched: tuple[subprocess.Popen[str], Output] | None = None

    def start(self, timeout: float = 150.0) -> DevStack:
        self._launched = launch_devstack(self.env)
        self.wait_for(rf"ready: open {self.scheme}://localhost:{self.port}", timeout=timeout)
        return self

    @property
    def out(self) -> Output:
        assert self._launched is not None, "the stack is not running"
        return self._launched[1]

    def mark(self) -> int:
        return self.out.mark()

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 30.0) -> re.Match[str]:
        return self.out.wait_for(pattern, after=after, timeout=timeout)

    def auth_code(self, after: int) -> str:
        """The code of the first `[DEV] auth code` line printed after `after`."""
        return self.wait_for(CODE_LINE, after=after).group(1)

    @classmethod
    def serving(cls, url: str) -> DevStack:
        """The stack a page of `url` talks to."""
        return next(stack for base, stack in cls.running.items() if f"{url}/".startswith(f"{base}/"))

    def pid(self, component: str) -> int:
        """The newest pid the launcher reported for `component` (it restarts children)."""
        found = re.findall(rf"started {re.escape(component)} pid=(\d+)", self.out.text())
        assert found, f"{component} never started"
        return int(found[-1])

    def stop(self) -> None:
        if self._launched is not None:
            interrupt(*self._launched)
            self._launched = None
