"""API keys: created once, used as X-API-Key through the gateway, revoked."""

from __future__ import annotations

from tests.auth_svc.conftest import AuthStack
from tests.support.auth import bearer, error_code, register
from tests.support.poll import eventually


async def test_api_key_create_use_revoke(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        headers = bearer(account["access_token"])
        r = await http.post("/auth/api-keys", json={"name": "ci bot"}, headers=headers)
        assert r.status_code == 201, r.text
        created = r.json()["data"]
        key = created["key"]
        assert key.startswith("pck_") and len(key) > 40
        assert created["prefix"] == key[:12] and created["name"] == "ci bot"

        listed = (await http.get("/auth/api-keys", headers=headers)).json()["data"]
        assert [k["id"] for k in listed] == [created["id"]]
        assert "key" not in listed[0] and key not in str(listed)

        r = await http.get("/auth/me", headers={"x-api-key": key})
        assert r.status_code == 200 and r.json()["data"]["id"] == account["user"]["id"]
        listed = (await http.get("/auth/api-keys", headers={"x-api-key": key})).json()["data"]
        assert listed[0]["last_used_at"] is not None
        # A key cannot mint keys, and has no session to log out.
        r = await http.post("/auth/api-keys", json={"name": "more"}, headers={"x-api-key": key})
        assert r.status_code == 403
        assert (await http.post("/auth/logout", headers={"x-api-key": key})).status_code == 400

        stranger = await register(http)
        r = await http.delete(f"/auth/api-keys/{created['id']}", headers=bearer(stranger["access_token"]))
        assert r.status_code == 404
        assert (await http.get("/auth/me", headers={"x-api-key": key})).status_code == 200

        assert (await http.delete(f"/auth/api-keys/{created['id']}", headers=headers)).status_code == 204

        async def key_refused() -> bool:
            r = await http.get("/auth/me", headers={"x-api-key": key})
            return r.status_code == 401 and error_code(r) == "invalid_api_key"

        await eventually(key_refused)
        assert (await http.get("/auth/api-keys", headers=headers)).json()["data"] == []
        assert (await http.delete(f"/auth/api-keys/{created['id']}", headers=headers)).status_code == 404


async def test_unknown_api_key_is_401_and_the_verify_endpoint_is_internal(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        r = await http.get("/auth/me", headers={"x-api-key": "pck_not-a-real-key"})
        assert r.status_code == 401 and error_code(r) == "invalid_api_key"
        # Not in auth_svc's published document, so not a public route (rpc.auth only).
        r = await http.post("/auth/internal/api-keys/verify", json={"key_hash": "0" * 64})
        assert r.status_code == 404
        account = await register(http)
        r = await http.post(
            "/auth/internal/api-keys/verify",
            json={"key_hash": "0" * 64},
            headers=bearer(account["access_token"]),
        )
        assert r.status_code == 404
