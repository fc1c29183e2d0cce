"""Accounts for end-to-end tests, created through the public API (auth_svc behind the gateway)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx


@dataclass
class User:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}


async def sign_up(
    http: httpx.AsyncClient,
    name: str = "tester",
    password: str = "correct horse battery",
    code: Callable[[str], Awaitable[str]] | None = None,
) -> User:
    """An account with a password. A stack that confirms sign-ups by email (the default) answers
    202 and `code(email)` must read the mailed code; test stacks run SIGNUP_CONFIRMATION=none."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    r = await http.post("/auth/register", json={"email": email, "password": password, "display_name": name})
    if r.status_code == 202:
        assert code is not None, "this stack confirms sign-ups by email: pass `code` to read the code"
        body = {"email": email, "code": await code(email), "password": password}
        r = await http.post("/auth/code/verify", json=body)
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 201, r.text
    data = r.json()["data"]
    return User(data["user"]["id"], email, password, data["access_token"], data["refresh_token"])
