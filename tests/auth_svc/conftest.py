"""auth_svc behind a real gateway on a real nats-server, with the in-memory store or a
real PostgreSQL; codes arrive through the `[DEV]` print (memory) or a local notify
server that records the POSTs (PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth_svc.app import create_app as create_auth
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from tests.support.auth import private_keys, signing_key
from tests.support.mesh import Mesh, RunningApp, RunningServer, client
from tests.support.pg import fresh_database
from tests.support.poll import eventually

DEV_CODE = re.compile(r"^\[DEV\] auth code created — use this code to log in code=(\d{6})$", re.M)
DEV_RESET = re.compile(
    r"^\[DEV\] password reset code created — use this code to reset your password code=(\d{6})$", re.M
)
DEV_LINK = re.compile(r"^\[DEV\] magic link created — open this link to log in link=(\S+)$", re.M)
WAIT = 20.0


@pytest.fixture(scope="session")
def test_key() -> ECKey:
    return signing_key("test-key-1")


class NotifyRecorder:
    """A stand-in for our own notify service: records every POST, optionally failing the
    first ones with 503 to exercise the retries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.app = Starlette(routes=[Route("/send", self.send, methods=["POST"])])

    async def send(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.calls.append((dict(request.headers), body))
        if len(self.calls) <= self.fail_first:
            return JSONResponse({"error": "try later"}, status_code=503)
        return JSONResponse({"queued": True}, status_code=202)

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies that were accepted (one per message, whatever the retries)."""
        seen: dict[str, dict[str, Any]] = {}
        for i, (headers, body) in enumerate(self.calls):
            if i >= self.fail_first:
                seen[headers["idempotency-key"]] = body
        return list(seen.values())


@dataclass
class Inbox:
    """Where codes and links arrive for one test."""

    capsys: pytest.CaptureFixture[str]
    notify: NotifyRecorder | None
    printed: str = ""
    taken: set[str] = field(default_factory=set)

    def _stdout(self) -> str:
        self.printed += self.capsys.readouterr().out
        return self.printed

    async def wait_for(self, email: str, template: str) -> str:
        """The newest code (or link) for `email` not returned before."""
        # Sign-up mails carry a sign-in code: standalone prints them as the auth code line.
        pattern = {
            "auth_code": DEV_CODE,
            "signup_code": DEV_CODE,
            "signup_existing": DEV_CODE,
            "password_reset": DEV_RESET,
            "magic_link": DEV_LINK,
        }[template]
        key = "link" if template == "magic_link" else "code"
        fresh: list[str] = []

        def arrived() -> bool:
            if self.notify is not None:
                found = [
                    str(b["data"][key])
                    for b in self.notify.delivered()
                    if b["to"] == email and b["template"] == template
                ]
            else:
                # The dev line names no address (its text is fixed): tests ask one at a time.
                found = pattern.findall(self._stdout())
            fresh[:] = [f for f in found if f not in self.taken]
            return bool(fresh)

        await eventually(arrived, WAIT, f"a {template} for {email}")
        self.taken.add(fresh[-1])
        return fresh[-1]


@dataclass
class AuthStack:
    mesh: Mesh
    settings: Settings
    backend: str
    inbox: Inbox
    auth: RunningApp
    gateway: RunningServer
    notify: NotifyRecorder | None = None

    @property
    def url(self) -> str:
        return self.gateway.url

    def http(self, *, source: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """A client; `source` (a loopback address such as 127.0.0.2) makes it another client
        address as the gateway sees it."""
        if source is not None:
            kwargs["transport"] = httpx.AsyncHTTPTransport(local_address=source)
        return client(self.gateway.url, **kwargs)


@pytest.fixture
def auth_settings(make_settings: Callable[..., Settings], test_key: ECKey) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {"jwt_private_keys": private_keys(test_key)}
        base.update(overrides)
        return make_settings(**base)

    return make


StartStack = Callable[..., Any]


@pytest.fixture
async def start_stack(
    stack: Mesh,
    auth_settings: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> AsyncIterator[StartStack]:
    async def start(backend: str = "memory", fail_first: int = 0, **overrides: Any) -> AuthStack:
        notify = None
        if backend == "postgres":
            notify = NotifyRecorder(fail_first=fail_first)
            server = await stack.server(notify.app)
            if "database_url" not in overrides:
                # A fresh database per test; PostgreSQL starts only for tests that ask for it.
                overrides["database_url"] = await fresh_database(request.getfixturevalue("postgres_url"))
            overrides.setdefault("notify_url", f"{server.url}/send")
            overrides.setdefault("notify_api_key", "notify-secret")
        settings = auth_settings(**overrides)
        auth = await stack.app(create_auth(settings))
        gateway = await stack.server(create_gateway(settings))
        inbox = Inbox(capsys, notify)
        return AuthStack(stack, settings, backend, inbox, auth, gateway, notify)

    yield start


BACKENDS = ["memory", "postgres"]


@pytest.fixture(params=BACKENDS)
async def auth_stack(request: pytest.FixtureRequest, start_stack: StartStack) -> AuthStack:
    started: AuthStack = await start_stack(request.param)
    return started
