"""Standalone mode as `make dev` runs it: `python -m auth_svc` as a real process, no
database, no JWT_PRIVATE_KEYS. The code is read from the process's own output."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.app import create_app as create_gateway
from tests.support.auth import bearer, new_email
from tests.support.mesh import Mesh, client
from tests.support.natsd import NatsServer

REPO = Path(__file__).resolve().parents[2]
DEV_LINE = re.compile(r"^\[DEV\] auth code created — use this code to log in code=(\d{6})$")
DEV_EMAIL = "dev@example.com"
DEV_PASSWORD = "dev password 123"


class AuthProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> AuthProcess:
        self.lines = []
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "auth_svc",
            cwd=REPO,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.reader = asyncio.create_task(self._read())
        await self.wait_for(re.compile(r'"event": ?"started"'))
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode().rstrip("\n"))

    async def wait_for(
        self, pattern: re.Pattern[str], after: int = 0, timeout: float = 30.0
    ) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if m := pattern.search(line):
                    return m
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError("auth_svc exited:\n" + "\n".join(self.lines[-30:]))
            await asyncio.sleep(0.05)
        raise AssertionError(f"no line matching {pattern.pattern}:\n" + "\n".join(self.lines[-30:]))

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            await self.reader
        self.process = None


@pytest.fixture
async def auth_process(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[AuthProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "JWT_", "NOTIFY_", "DEV_"))}
    env.update(
        NATS_URL=nats_server.url,
        DATA_DIR=str(tmp_path / "data"),
        HEALTH_PORT="0",
        LOG_JSON="true",
        PYTHONUNBUFFERED="1",
        DEV_USER_EMAIL=DEV_EMAIL,
        DEV_USER_PASSWORD=DEV_PASSWORD,
    )
    process = AuthProcess(env)
    try:
        yield await process.start()
    finally:
        await process.stop()


async def test_code_from_the_log_line_and_dev_user_surviving_restarts(
    auth_process: AuthProcess, stack: Mesh
) -> None:
    gateway = await stack.server(create_gateway(stack.settings))
    async with client(gateway.url) as http:
        r = await http.post("/auth/login", json={"email": DEV_EMAIL, "password": DEV_PASSWORD})
        assert r.status_code == 200, r.text
        dev = r.json()["data"]
        kids = [k["kid"] for k in (await http.get("/auth/.well-known/jwks.json")).json()["keys"]]

        email = new_email("coder")
        mark = len(auth_process.lines)
        assert (await http.post("/auth/code", json={"email": email})).status_code == 202
        code = (await auth_process.wait_for(DEV_LINE, after=mark)).group(1)
        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 200, r.text
        # A password sign-up, completed by the code printed for it (the default confirmation).
        registered_email = new_email("signer")
        mark = len(auth_process.lines)
        body = {"email": registered_email, "password": "correct horse battery"}
        assert (await http.post("/auth/register", json=body)).status_code == 202
        code = (await auth_process.wait_for(DEV_LINE, after=mark)).group(1)
        r = await http.post("/auth/code/verify", json={**body, "code": code})
        assert r.status_code == 200 and r.json()["data"]["user"]["has_password"], r.text

        await auth_process.stop()
        await auth_process.start()

        # The seed brought the dev account back, with the same id, without registering.
        r = await http.post("/auth/login", json={"email": DEV_EMAIL, "password": DEV_PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["user"]["id"] == dev["user"]["id"]
        # The signing key lives in JetStream: tokens issued before the restart still verify.
        assert [k["kid"] for k in (await http.get("/auth/.well-known/jwks.json")).json()["keys"]] == kids
        me = await http.get("/auth/me", headers=bearer(dev["access_token"]))
        assert me.status_code == 200 and me.json()["data"]["email"] == DEV_EMAIL
        # Everything else was in memory.
        r = await http.post(
            "/auth/login", json={"email": registered_email, "password": "correct horse battery"}
        )
        assert r.status_code == 401
    assert not any(DEV_PASSWORD in line for line in auth_process.lines)
