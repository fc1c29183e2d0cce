"""Accounts, tokens and keys for the tests of auth_svc and of the gateway's authentication."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc.jwk import ECKey

from tests.support.poll import eventually

PASSWORD = "correct horse battery"


def signing_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


def private_keys(*keys: ECKey) -> str:
    """A JWT_PRIVATE_KEYS value: the first key signs, all verify."""
    return json.dumps([k.as_dict(private=True) for k in keys])


def link_token(link: str) -> str:
    """A magic link's token: in its query, or in its fragment's (the web UI's `#/magic?token=`)."""
    parts = urlsplit(link)
    query = parts.query or parts.fragment.partition("?")[2]
    return parse_qs(query)["token"][0]


def new_email(name: str = "user") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "meta"}, body
    code: str = body["error"]["code"]
    return code


async def register(
    http: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    r = await http.post("/auth/register", json={"email": email or new_email(), "password": password, **extra})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    r = await http.post("/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def refused(http: httpx.AsyncClient, token: str, code: str = "session_revoked") -> float:
    """Wait until the gateway refuses `token` (revocations reach it through a watcher)."""

    async def check() -> bool:
        r = await http.get("/auth/me", headers=bearer(token))
        if r.status_code == 200:
            return False
        assert r.status_code == 401 and error_code(r) == code, r.text
        return True

    return await eventually(check)
