"""Login limits and password-failure waits live in a JetStream bucket: they hold across auth_svc
replicas, and count per (email, client address), so nobody elsewhere locks an owner out."""

from __future__ import annotations

import asyncio

import httpx

from auth_svc.app import create_app as create_auth
from tests.auth_svc.conftest import StartStack
from tests.support.auth import PASSWORD, new_email, register

# Counters are per fixed window; a day-long window keeps a test from straddling two.
WINDOW = 86400


async def wrong(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await http.post("/auth/login", json={"email": email, "password": "wrong password"})


async def test_wrong_passwords_make_a_growing_wait_shared_by_replicas(start_stack: StartStack) -> None:
    auth = await start_stack("memory", login_rate_window=WINDOW)  # free 3, then 1 s doubling
    # Two replicas: each request goes to either, and the failures are shared.
    second = await auth.mesh.app(create_auth(auth.settings))
    async with auth.http() as http:
        email = (await register(http))["user"]["email"]
        for _ in range(2):
            assert (await wrong(http, email)).status_code == 401
        await auth.auth.stop()  # Only the second replica is left; it knows the two failures.
        third = await wrong(http, email)
        assert third.status_code == 401 and third.json()["error"]["details"]["retry_after"] == 1
        waits = []
        for _ in range(3):
            # Too early, even with the right password: 429, and no bcrypt run.
            r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert r.status_code == 429, r.text
            assert r.json()["error"]["details"]["limit"] == "login_failures"
            assert "emailed code" in r.json()["error"]["message"]
            waits.append(int(r.headers["retry-after"]))
            await asyncio.sleep(waits[-1] + 0.05)
            assert (await wrong(http, email)).status_code == 401
        assert waits == [1, 2, 4]
        # Another address from the same client is not affected.
        other = await register(http)
        r = await http.post("/auth/login", json={"email": other["user"]["email"], "password": PASSWORD})
        assert r.status_code == 200
    await second.stop()


async def test_an_attacker_elsewhere_never_locks_the_owner_out(start_stack: StartStack) -> None:
    # Quick steps so the attacker reaches the lock in a few seconds: free 2, then 1 s, locked from 4.
    auth = await start_stack(
        "memory", login_backoff_after=2, login_backoff_base=0.1, login_lock_after=4, login_rate_window=WINDOW
    )
    async with auth.http() as owner, auth.http(source="127.0.0.2") as attacker:
        email = (await register(owner))["user"]["email"]
        failures = 0
        while failures < 4:
            r = await wrong(attacker, email)
            if r.status_code == 429:
                await asyncio.sleep(float(r.headers["retry-after"]))
                continue
            assert r.status_code == 401, r.text
            failures += 1
        # The attacker's pair is locked for the window, whatever the password.
        r = await attacker.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > WINDOW - 60, r.text
        # The owner, from their own address, signs in with the password as ever.
        r = await owner.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        # And from the locked address too, with an emailed code.
        assert (await attacker.post("/auth/code", json={"email": email})).status_code == 202
        code = await auth.inbox.wait_for(email, "auth_code")
        r = await attacker.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 200, r.text


async def test_a_sign_in_clears_the_failures_of_its_pair(start_stack: StartStack) -> None:
    auth = await start_stack("memory", login_rate_window=WINDOW)
    async with auth.http() as http:
        email = (await register(http))["user"]["email"]
        for _ in range(2):
            assert (await wrong(http, email)).status_code == 401
        assert (
            await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        ).status_code == 200
        for _ in range(2):  # Counted from zero again: no wait yet.
            r = await wrong(http, email)
            assert r.status_code == 401 and "retry_after" not in r.json()["error"]["details"]


async def test_failures_from_many_clients_pause_password_sign_in_but_not_codes(
    start_stack: StartStack,
) -> None:
    auth = await start_stack("memory", login_failures_per_email=3, login_rate_window=WINDOW)
    async with auth.http() as owner:
        email = (await register(owner))["user"]["email"]
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            async with auth.http(source=source) as bot:
                assert (await wrong(bot, email)).status_code == 401
        r = await owner.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 429 and r.json()["error"]["details"]["limit"] == "login_failures_per_email"
        assert (await owner.post("/auth/code", json={"email": email})).status_code == 202
        code = await auth.inbox.wait_for(email, "auth_code")
        assert (await owner.post("/auth/code/verify", json={"email": email, "code": code})).status_code == 200


async def test_per_client_limit_spans_addresses(start_stack: StartStack) -> None:
    auth = await start_stack("memory", login_rate_per_client=4, login_rate_window=WINDOW)
    async with auth.http() as http:
        for _ in range(4):
            r = await http.post("/auth/login", json={"email": new_email(), "password": PASSWORD})
            assert r.status_code == 401
        r = await http.post("/auth/login", json={"email": new_email(), "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        r = await http.post("/auth/code/verify", json={"email": new_email(), "code": "000000"})
        assert r.status_code == 401  # A separate counter for code checks.


async def test_code_mails_are_capped_per_address_but_still_answer_202(start_stack: StartStack) -> None:
    auth = await start_stack("memory", code_send_per_email=2, login_rate_window=WINDOW)
    email = new_email("flood")
    async with auth.http() as http:
        for _ in range(4):
            assert (await http.post("/auth/code", json={"email": email})).status_code == 202
        await auth.inbox.wait_for(email, "auth_code")
        await auth.inbox.wait_for(email, "auth_code")
    assert auth.inbox._stdout().count("[DEV] auth code created") == 2
