"""API keys and passwords: a change keeps the keys unless the user asks in the same step; a
reset (the account may be in someone else's hands) revokes every key. Revoked keys are
refused by the gateway at once, even one it had just verified and cached."""

from __future__ import annotations

import time

import httpx

from tests.auth_svc.conftest import AuthStack
from tests.support.auth import PASSWORD, bearer, error_code, login, register
from tests.support.poll import eventually

# Generous: the gateway learns of a revocation through a watcher, in milliseconds.
GENEROUS = 10.0


async def new_keys(http: httpx.AsyncClient, headers: dict[str, str], count: int) -> list[str]:
    keys = []
    for i in range(count):
        r = await http.post("/auth/api-keys", json={"name": f"bot {i}"}, headers=headers)
        assert r.status_code == 201, r.text
        keys.append(r.json()["data"]["key"])
    return keys


async def works(http: httpx.AsyncClient, key: str) -> bool:
    r = await http.get("/auth/me", headers={"x-api-key": key})
    if r.status_code == 200:
        return True
    assert r.status_code == 401 and error_code(r) == "invalid_api_key", r.text
    return False


async def refused_within(http: httpx.AsyncClient, keys: list[str], answered: float) -> float:
    """Seconds from `answered` until the gateway refuses every one of `keys`."""

    async def all_refused() -> bool:
        return not any([await works(http, k) for k in keys])

    await eventually(all_refused, timeout=GENEROUS)
    elapsed = time.monotonic() - answered
    print(f"measured api keys refused after the answer: {elapsed * 1000:.1f} ms")
    return elapsed


async def test_a_password_change_keeps_api_keys_unless_asked_to_revoke_them(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        email, headers = account["user"]["email"], bearer(account["access_token"])
        keys = await new_keys(http, headers, 2)
        assert all([await works(http, k) for k in keys])  # now cached by the gateway

        r = await http.post(
            "/auth/password/change",
            json={"current_password": PASSWORD, "password": "second password"},
            headers=headers,
        )
        assert r.status_code == 204, r.text
        assert all([await works(http, k) for k in keys])
        assert len((await http.get("/auth/api-keys", headers=headers)).json()["data"]) == 2

        # Bad input changes nothing: neither the password nor the keys.
        r = await http.post(
            "/auth/password/change",
            json={
                "current_password": "second password",
                "password": "third password",
                "revoke_api_keys": "yes",
            },
            headers=headers,
        )
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "revoke_api_keys", r.text
        r = await http.post(
            "/auth/password/change",
            json={
                "current_password": "wrong password",
                "password": "third password",
                "revoke_api_keys": True,
            },
            headers=headers,
        )
        assert r.status_code == 403 and error_code(r) == "wrong_password", r.text
        assert all([await works(http, k) for k in keys])
        await login(http, email, "second password")

        r = await http.post(
            "/auth/password/change",
            json={
                "current_password": "second password",
                "password": "third password",
                "revoke_api_keys": True,
            },
            headers=headers,
        )
        answered = time.monotonic()
        assert r.status_code == 204, r.text
        assert await refused_within(http, keys, answered) < GENEROUS
        assert (await http.get("/auth/api-keys", headers=headers)).json()["data"] == []
        # The session that changed the password goes on.
        assert (await http.get("/auth/me", headers=headers)).status_code == 200


async def test_a_first_password_may_revoke_the_keys_too(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        email = f"coded-{time.time_ns()}@example.com"
        assert (await http.post("/auth/code", json={"email": email})).status_code == 202
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        account = (await http.post("/auth/code/verify", json={"email": email, "code": code})).json()["data"]
        headers = bearer(account["access_token"])
        keys = await new_keys(http, headers, 1)
        assert await works(http, keys[0])
        r = await http.post(
            "/auth/password/change",
            json={"password": "first password", "revoke_api_keys": True},
            headers=headers,
        )
        answered = time.monotonic()
        assert r.status_code == 204, r.text
        assert await refused_within(http, keys, answered) < GENEROUS


async def test_a_password_reset_revokes_every_api_key(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        email, headers = account["user"]["email"], bearer(account["access_token"])
        keys = await new_keys(http, headers, 3)
        assert all([await works(http, k) for k in keys])
        other = await register(http)
        their_key = (await new_keys(http, bearer(other["access_token"]), 1))[0]

        assert (await http.post("/auth/password/forgot", json={"email": email})).status_code == 202
        code = await auth_stack.inbox.wait_for(email, "password_reset")
        r = await http.post(
            "/auth/password/reset", json={"email": email, "code": code, "password": "new secret"}
        )
        answered = time.monotonic()
        assert r.status_code == 200, r.text
        assert await refused_within(http, keys, answered) < GENEROUS
        fresh = bearer(r.json()["data"]["access_token"])
        assert (await http.get("/auth/api-keys", headers=fresh)).json()["data"] == []
        # Nobody else's keys are touched.
        assert await works(http, their_key)
