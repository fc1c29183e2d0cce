"""System accounts: services create them over the bus (the starter personas' owner); they are
created once under a stable id, and nobody can register their address or sign in as them."""

from __future__ import annotations

import asyncio

import nats

from chassis.bridge import BusClient
from proto.identity import Identity
from tests.auth_svc.conftest import AuthStack
from tests.support.auth import bearer, register

PATH = "/auth/internal/system-users/starters"
BODY = {"display_name": "Persona Community", "bio": "Starter personas."}
EMAIL = "starters@system.invalid"
SERVICE = Identity(user_id="persona", via="internal")


async def test_a_system_account_is_created_once_and_cannot_sign_in(auth_stack: AuthStack) -> None:
    nc = await nats.connect(auth_stack.settings.nats_url)
    try:
        bus = BusClient(nc, nc.jetstream(), auth_stack.settings, prefix="rpc")
        # Replicas of a service starting together: one account, the same answer for each.
        replies = await asyncio.gather(
            *(bus.call("auth", "PUT", PATH, json=BODY, identity=SERVICE) for _ in range(4))
        )
        assert {r.status for r in replies} == {200}
        users = [r.json()["data"] for r in replies]
        assert len({u["id"] for u in users}) == 1
        assert users[0]["display_name"] == "Persona Community" and users[0]["bio"] == "Starter personas."
        again = await bus.call("auth", "PUT", PATH, json={"display_name": "Other"}, identity=SERVICE)
        assert again.json()["data"]["id"] == users[0]["id"]
        bad = await bus.call(
            "auth", "PUT", "/auth/internal/system-users/Not_A_Handle", json=BODY, identity=SERVICE
        )
        assert bad.status == 422
    finally:
        await nc.close()

    async with auth_stack.http() as http:
        r = await http.get(f"/auth/users/{users[0]['id']}")
        assert r.status_code == 200 and r.json()["data"]["display_name"] == "Persona Community"
        # Only services reach the endpoint: it is not in auth_svc's published document, so the
        # gateway has no such route for anonymous or signed-in callers.
        assert (await http.put(PATH, json=BODY)).status_code == 404
        account = await register(http)
        assert (await http.put(PATH, json=BODY, headers=bearer(account["access_token"]))).status_code == 404
        # Its address is reserved, it has no password, and no code, link or reset is ever sent for it.
        r = await http.post("/auth/register", json={"email": EMAIL, "password": "a long password"})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "email"
        r = await http.post("/auth/login", json={"email": EMAIL, "password": "a long password"})
        assert r.status_code == 401
        for path in ("/auth/code", "/auth/magic-link", "/auth/password/forgot"):
            assert (await http.post(path, json={"email": EMAIL})).status_code == 202
        r = await http.post("/auth/code/verify", json={"email": EMAIL, "code": "000000"})
        assert r.status_code == 401
        if auth_stack.notify is not None:
            assert [b for b in auth_stack.notify.delivered() if b["to"] == EMAIL] == []
        else:
            assert "[DEV]" not in auth_stack.inbox._stdout()
