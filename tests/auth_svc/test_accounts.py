"""Accounts through the gateway: register, login, me, profile, validation, sessions."""

from __future__ import annotations

import pytest

from tests.auth_svc.conftest import AuthStack
from tests.support.auth import PASSWORD, bearer, error_code, login, new_email, refused, register, segment


async def test_register_login_me(auth_stack: AuthStack) -> None:
    email = new_email("Reg").replace("Reg", "ReG")
    async with auth_stack.http() as http:
        registered = await register(http, email, display_name="Ada")
        assert registered["token_type"] == "Bearer" and registered["expires_in"] == 900
        assert registered["user"]["email"] == email.lower()
        assert registered["user"]["display_name"] == "Ada"
        assert registered["refresh_token"].startswith("rt_")
        signed_in = await login(http, email.upper())
        assert signed_in["user"]["id"] == registered["user"]["id"]
        r = await http.get("/auth/me", headers=bearer(signed_in["access_token"]))
        assert r.status_code == 200, r.text
        me = r.json()["data"]
        assert me["id"] == registered["user"]["id"] and me["has_password"] is True and me["is_admin"] is False
        assert (await http.get("/auth/me")).status_code == 401

    header = segment(signed_in["access_token"], 0)
    claims = segment(signed_in["access_token"], 1)
    assert header["alg"] == "ES256" and header["kid"] == "test-key-1"
    assert {"sub", "sid", "iat", "exp", "jti", "iss", "aud"} <= set(claims)
    assert claims["sub"] == me["id"] and claims["exp"] - claims["iat"] == 900
    assert claims["iss"] == "persona-community" and claims["aud"] == "persona-api"


async def test_wrong_password_and_unknown_email_get_the_same_401(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        wrong = await http.post(
            "/auth/login", json={"email": account["user"]["email"], "password": "nope nope"}
        )
        unknown = await http.post("/auth/login", json={"email": new_email("ghost"), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"]


async def test_duplicate_email_is_409_and_changes_nothing(auth_stack: AuthStack) -> None:
    email = new_email("dup")
    async with auth_stack.http() as http:
        first = await register(http, email)
        r = await http.post("/auth/register", json={"email": email.upper(), "password": "another password"})
        assert r.status_code == 409, r.text
        assert error_code(r) == "email_taken" and r.json()["error"]["details"]["field"] == "email"
        # The first password still works; the second was not stored.
        assert (await login(http, email))["user"]["id"] == first["user"]["id"]
        r = await http.post("/auth/login", json={"email": email, "password": "another password"})
        assert r.status_code == 401


@pytest.mark.parametrize(
    "email",
    ["plainaddress", "a@b", "@example.com", "a b@example.com", "a@@example.com", "a@example..com", ""],
)
async def test_malformed_email_is_422_naming_email(auth_stack: AuthStack, email: str) -> None:
    async with auth_stack.http() as http:
        for path in ("/auth/register", "/auth/login"):
            r = await http.post(path, json={"email": email, "password": PASSWORD})
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"]["field"] == "email"
        r = await http.post("/auth/code", json={"email": email})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "email"


@pytest.mark.parametrize(
    ("password", "status"),
    [
        ("a" * 72, 201),
        ("a" * 73, 422),
        ("é" * 36, 201),  # 36 characters, 72 bytes
        ("é" * 36 + "a", 422),  # 37 characters, 73 bytes
        ("😀" * 18, 201),  # 18 characters, 72 bytes
        ("😀" * 18 + "a", 422),
        ("é" * 4, 201),  # 8 bytes
        ("1234567", 422),
    ],
)
async def test_password_limits_are_counted_in_utf8_bytes(
    auth_stack: AuthStack, password: str, status: int
) -> None:
    email = new_email("pw")
    async with auth_stack.http() as http:
        r = await http.post("/auth/register", json={"email": email, "password": password})
        assert r.status_code == status, r.text
        if status == 422:
            assert r.json()["error"]["details"]["field"] == "password"
            assert "password" in r.json()["error"]["message"]
            # Nothing was created: the address is still free.
            await register(http, email)
        else:
            await login(http, email, password)


async def test_72_byte_password_is_not_truncated(auth_stack: AuthStack) -> None:
    password = "b" * 72
    async with auth_stack.http() as http:
        account = await register(http, password=password)
        email = account["user"]["email"]
        r = await http.post("/auth/login", json={"email": email, "password": password + "c"})
        assert r.status_code == 401
        r = await http.post("/auth/login", json={"email": email, "password": password[:71]})
        assert r.status_code == 401


async def test_profile_update_and_public_profiles(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http, display_name="Before")
        user_id = account["user"]["id"]
        headers = bearer(account["access_token"])
        r = await http.patch(
            "/auth/me",
            json={"display_name": " After ", "bio": "I write personas", "avatar_media_id": "m-1"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["data"]["display_name"] == "After"
        r = await http.patch("/auth/me", json={"avatar_media_id": None}, headers=headers)
        assert r.json()["data"]["avatar_media_id"] is None and r.json()["data"]["bio"] == "I write personas"
        for bad, field in (
            ({"display_name": "  "}, "display_name"),
            ({"is_admin": True}, "is_admin"),
            ({"bio": "x" * 1001}, "bio"),
        ):
            r = await http.patch("/auth/me", json=bad, headers=headers)
            assert r.status_code == 422, r.text
            assert field in r.json()["error"]["message"] or r.json()["error"]["details"].get("field") == field
        me = (await http.get("/auth/me", headers=headers)).json()["data"]
        assert me["display_name"] == "After" and me["is_admin"] is False

        public = await http.get(f"/auth/users/{user_id}")
        assert public.status_code == 200
        assert public.json()["data"] == {
            "id": user_id,
            "display_name": "After",
            "bio": "I write personas",
            "avatar_media_id": None,
            "created_at": me["created_at"],
        }
        assert (await http.get("/auth/users/00000000-0000-0000-0000-000000000000")).status_code == 404
        assert (await http.get("/auth/users/not-a-uuid")).status_code == 404
        other = await register(http)
        r = await http.post("/auth/users/lookup", json={"ids": [other["user"]["id"], "junk", user_id]})
        assert r.status_code == 200
        assert [u["id"] for u in r.json()["data"]] == [other["user"]["id"], user_id]
        assert all("email" not in u for u in r.json()["data"])
        r = await http.post("/auth/users/lookup", json={"ids": [user_id] * 101})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "ids"


async def test_sessions_are_listed_and_can_be_revoked(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        email = account["user"]["email"]
        laptop = await login(http, email)
        r = await http.get("/auth/sessions", headers=bearer(laptop["access_token"]))
        sessions = r.json()["data"]
        assert len(sessions) == 2
        assert [s["current"] for s in sessions] == [True, False]
        first_sid = segment(account["access_token"], 1)["sid"]
        assert sessions[1]["id"] == first_sid

        stranger = await register(http)
        r = await http.delete(f"/auth/sessions/{first_sid}", headers=bearer(stranger["access_token"]))
        assert r.status_code == 404
        assert (await http.get("/auth/me", headers=bearer(account["access_token"]))).status_code == 200

        r = await http.delete(f"/auth/sessions/{first_sid}", headers=bearer(laptop["access_token"]))
        assert r.status_code == 204
        await refused(http, account["access_token"])
        r = await http.post("/auth/refresh", json={"refresh_token": account["refresh_token"]})
        assert r.status_code == 401
        remaining = (await http.get("/auth/sessions", headers=bearer(laptop["access_token"]))).json()["data"]
        assert [s["id"] for s in remaining] == [segment(laptop["access_token"], 1)["sid"]]
        assert (
            await http.delete("/auth/sessions/junk", headers=bearer(laptop["access_token"]))
        ).status_code == 404


async def test_password_change_keeps_this_session_and_ends_the_others(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        email = account["user"]["email"]
        phone = await login(http, email)
        headers = bearer(account["access_token"])
        r = await http.post(
            "/auth/password/change",
            json={"current_password": "wrong one", "password": "new password 1"},
            headers=headers,
        )
        assert r.status_code == 403 and r.json()["error"]["details"]["field"] == "current_password"
        # An account with a password must prove it: leaving it out is not a way around.
        for body in (
            {"password": "new password 1"},
            {"current_password": None, "password": "new password 1"},
        ):
            r = await http.post("/auth/password/change", json=body, headers=headers)
            assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "current_password"
        r = await http.post(
            "/auth/password/change",
            json={"current_password": PASSWORD, "password": "x" * 73},
            headers=headers,
        )
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "password"
        r = await http.post(
            "/auth/password/change",
            json={"current_password": PASSWORD, "password": "new password 1"},
            headers=headers,
        )
        assert r.status_code == 204, r.text
        await refused(http, phone["access_token"])
        assert (await http.get("/auth/me", headers=headers)).status_code == 200
        assert (
            await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        ).status_code == 401
        await login(http, email, "new password 1")


async def test_a_code_account_sets_its_first_password_without_a_current_one(auth_stack: AuthStack) -> None:
    email = new_email("coded")
    async with auth_stack.http() as http:
        await http.post("/auth/code", json={"email": email})
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 200, r.text
        account = r.json()["data"]
        headers = bearer(account["access_token"])
        await http.post("/auth/code", json={"email": email})
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        phone = (await http.post("/auth/code/verify", json={"email": email, "code": code})).json()["data"]
        assert (await http.get("/auth/me", headers=headers)).json()["data"]["has_password"] is False

        r = await http.post("/auth/password/change", json={"password": "x" * 73}, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "password"
        assert (await http.get("/auth/me", headers=headers)).json()["data"]["has_password"] is False
        r = await http.post("/auth/password/change", json={"password": "my first password"}, headers=headers)
        assert r.status_code == 204, r.text
        assert (await http.get("/auth/me", headers=headers)).json()["data"]["has_password"] is True
        # Setting a first password signs no other device out.
        assert (await http.get("/auth/me", headers=bearer(phone["access_token"]))).status_code == 200
        assert (await login(http, email, "my first password"))["user"]["id"] == account["user"]["id"]

        # From now on the password is required to change it.
        r = await http.post("/auth/password/change", json={"password": "a second password"}, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "current_password"
        r = await http.post(
            "/auth/password/change",
            json={"current_password": "not my password", "password": "a second password"},
            headers=headers,
        )
        assert r.status_code == 403 and error_code(r) == "wrong_password"
        await login(http, email, "my first password")
        r = await http.post(
            "/auth/password/change",
            json={"current_password": "my first password", "password": "a second password"},
            headers=headers,
        )
        assert r.status_code == 204
        await refused(http, phone["access_token"])
        await login(http, email, "a second password")


async def test_logout_ends_the_session(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        headers = bearer(account["access_token"])
        assert (await http.post("/auth/logout", headers=headers)).status_code == 204
        await refused(http, account["access_token"])
        r = await http.post("/auth/refresh", json={"refresh_token": account["refresh_token"]})
        assert r.status_code == 401
        assert (await http.post("/auth/logout")).status_code == 401


async def test_auth_endpoints_are_in_the_merged_openapi(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        doc = (await http.get("/openapi.json")).json()
    for path in ("/auth/register", "/auth/refresh", "/auth/users/lookup", "/auth/.well-known/jwks.json"):
        assert path in doc["paths"], path
    assert "/auth/internal/api-keys/verify" not in doc["paths"]
    assert "TokenPair" in doc["components"]["schemas"]
    assert doc["paths"]["/auth/me"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
