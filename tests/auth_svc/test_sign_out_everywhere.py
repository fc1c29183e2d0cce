"""Sign out everywhere (`DELETE /auth/sessions`) and the last use of API keys, through the gateway."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.auth_svc.conftest import AuthStack
from tests.support.auth import bearer, error_code, login, refused, register


async def test_sign_out_everywhere_ends_every_session_but_not_api_keys(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        laptop = await register(http)
        email = laptop["user"]["email"]
        phone = await login(http, email)
        r = await http.post("/auth/api-keys", json={"name": "backup"}, headers=bearer(laptop["access_token"]))
        key = r.json()["data"]["key"]
        stranger = await register(http)
        sessions = (await http.get("/auth/sessions", headers=bearer(phone["access_token"]))).json()["data"]
        assert len(sessions) == 2

        # An API key has no session and may not end the account's sessions.
        r = await http.delete("/auth/sessions", headers={"x-api-key": key})
        assert r.status_code == 403 and error_code(r) == "forbidden"
        anonymous = await http.delete("/auth/sessions")
        assert anonymous.status_code == 401

        r = await http.delete("/auth/sessions", headers=bearer(phone["access_token"]))
        assert r.status_code == 204, r.text
        # Both devices' tokens are refused, the caller's own too, and neither can refresh.
        await refused(http, laptop["access_token"])
        await refused(http, phone["access_token"])
        for pair in (laptop, phone):
            r = await http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert r.status_code == 401 and error_code(r) == "invalid_refresh_token", r.text

        # The API key still works and sees no session left; another account is untouched.
        r = await http.get("/auth/sessions", headers={"x-api-key": key})
        assert r.status_code == 200 and r.json()["data"] == []
        assert (await http.get("/auth/me", headers=bearer(stranger["access_token"]))).status_code == 200

        # Signing in again starts a fresh session.
        again = await login(http, email)
        assert (await http.get("/auth/me", headers=bearer(again["access_token"]))).status_code == 200


async def test_an_api_keys_last_use_is_recorded(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        headers = bearer(account["access_token"])
        created = (await http.post("/auth/api-keys", json={"name": "nightly"}, headers=headers)).json()[
            "data"
        ]
        assert created["last_used_at"] is None
        [listed] = (await http.get("/auth/api-keys", headers=headers)).json()["data"]
        assert listed["last_used_at"] is None and listed["name"] == "nightly"

        before = datetime.fromisoformat(listed["created_at"])
        await asyncio.sleep(0.05)
        assert (await http.get("/auth/me", headers={"x-api-key": created["key"]})).status_code == 200
        [listed] = (await http.get("/auth/api-keys", headers=headers)).json()["data"]
        assert listed["last_used_at"] is not None
        assert datetime.fromisoformat(listed["last_used_at"]) > before
        assert "key" not in listed and listed["prefix"] == created["key"][:12]

        # A bad name is a 422 naming the field, and creates nothing.
        r = await http.post("/auth/api-keys", json={"name": ""}, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "name"
        assert len((await http.get("/auth/api-keys", headers=headers)).json()["data"]) == 1
