"""Login limits live in a JetStream bucket: they hold across auth_svc replicas."""

from __future__ import annotations

from auth_svc.app import create_app as create_auth
from tests.auth_svc.conftest import StartStack
from tests.auth_svc.helpers import PASSWORD, new_email, register

# Counters are per fixed window; a day-long window keeps a test from straddling two.
WINDOW = 86400


async def test_per_email_limit_holds_across_replicas(start_stack: StartStack) -> None:
    auth = await start_stack("memory", login_rate_per_email=3, login_rate_window=WINDOW)
    # Two replicas: each request goes to either, and the count is shared.
    second = await auth.mesh.app(create_auth(auth.settings))
    async with auth.http() as http:
        account = await register(http)
        email = account["user"]["email"]
        for _ in range(2):
            r = await http.post("/auth/login", json={"email": email, "password": "wrong password"})
            assert r.status_code == 401
        await auth.auth.stop()  # Only the second replica is left; it knows the two failures.
        r = await http.post("/auth/login", json={"email": email, "password": "wrong password"})
        assert r.status_code == 401
        r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        retry_after = int(r.headers["retry-after"])
        assert 1 <= retry_after <= WINDOW
        # Another address from the same client is not affected.
        other = await register(http)
        r = await http.post("/auth/login", json={"email": other["user"]["email"], "password": PASSWORD})
        assert r.status_code == 200
    await second.stop()


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
