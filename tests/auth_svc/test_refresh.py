"""Refresh-token rotation and reuse detection, through the gateway."""

from __future__ import annotations

import asyncio

import pytest

from tests.auth_svc.conftest import BACKENDS, AuthStack, StartStack
from tests.support.auth import bearer, error_code, refused, register, segment


async def test_refresh_rotates_both_tokens(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        r = await http.post("/auth/refresh", json={"refresh_token": account["refresh_token"]})
        assert r.status_code == 200, r.text
        rotated = r.json()["data"]
        assert rotated["refresh_token"] != account["refresh_token"]
        assert rotated["access_token"] != account["access_token"]
        assert rotated["user"]["id"] == account["user"]["id"]
        # Same session, new token id.
        old_claims, new_claims = segment(account["access_token"], 1), segment(rotated["access_token"], 1)
        assert new_claims["sid"] == old_claims["sid"] and new_claims["jti"] != old_claims["jti"]
        assert (await http.get("/auth/me", headers=bearer(rotated["access_token"]))).status_code == 200
        r = await http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
        assert r.status_code == 200


# Short, so the tests can wait it out.
GRACE = 0.5


@pytest.mark.parametrize("backend", BACKENDS)
async def test_reusing_a_refresh_token_revokes_the_whole_session(
    start_stack: StartStack, backend: str
) -> None:
    stack = await start_stack(backend, refresh_reuse_grace=GRACE)
    async with stack.http() as http:
        account = await register(http)
        stolen = account["refresh_token"]
        r = await http.post("/auth/refresh", json={"refresh_token": stolen})
        legit = r.json()["data"]
        # The thief (or a replay) presents the old token after the grace window: the session dies.
        await asyncio.sleep(GRACE + 0.1)
        r = await http.post("/auth/refresh", json={"refresh_token": stolen})
        assert r.status_code == 401 and error_code(r) == "refresh_token_reused"
        r = await http.post("/auth/refresh", json={"refresh_token": legit["refresh_token"]})
        assert r.status_code == 401 and error_code(r) == "invalid_refresh_token"
        await refused(http, legit["access_token"])
        await refused(http, account["access_token"])
        # Other sessions of the user are untouched.
        other = await http.post(
            "/auth/login", json={"email": account["user"]["email"], "password": "correct horse battery"}
        )
        assert other.status_code == 200


async def test_two_tabs_refreshing_at_once_both_stay_signed_in(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        tabs = await asyncio.gather(
            *(http.post("/auth/refresh", json={"refresh_token": account["refresh_token"]}) for _ in range(2))
        )
        assert [r.status_code for r in tabs] == [200, 200], [r.text for r in tabs]
        pairs = [r.json()["data"] for r in tabs]
        # The same session for both; each tab's new pair works, now and at its next refresh.
        sid = segment(account["access_token"], 1)["sid"]
        assert {segment(p["access_token"], 1)["sid"] for p in pairs} == {sid}
        for pair in pairs:
            assert (await http.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 200
            r = await http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert r.status_code == 200, r.text
        # A late retry within the window (a tab that lost its answer) is answered too.
        late = await http.post("/auth/refresh", json={"refresh_token": account["refresh_token"]})
        assert late.status_code == 200, late.text
        assert (await http.get("/auth/me", headers=bearer(pairs[0]["access_token"]))).status_code == 200


async def test_unknown_refresh_token_is_401(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        r = await http.post("/auth/refresh", json={"refresh_token": "rt_made-up"})
        assert r.status_code == 401 and error_code(r) == "invalid_refresh_token"
        assert (await http.post("/auth/refresh", json={})).status_code == 422


async def test_refresh_works_with_an_expired_or_broken_access_token_attached(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        r = await http.post(
            "/auth/refresh",
            json={"refresh_token": account["refresh_token"]},
            headers=bearer("not.a.token"),
        )
        assert r.status_code == 200, r.text
        # Elsewhere a broken token is refused, not ignored.
        r = await http.get("/auth/me", headers=bearer("not.a.token"))
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
