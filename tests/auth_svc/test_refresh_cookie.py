"""A browser's refresh token lives in an HttpOnly cookie (X-Token-Transport: cookie), guarded
against CSRF; API clients keep the JSON body. Through a real gateway and nats-server."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auth_svc.conftest import AuthStack, StartStack
from tests.support.auth import PASSWORD, bearer, error_code, link_token, new_email, segment

BROWSER = {"x-token-transport": "cookie"}


def same_site(stack: AuthStack) -> dict[str, str]:
    """What Chromium sends with the web UI's own fetch: the header, its origin, same-origin."""
    return {**BROWSER, "origin": stack.url, "sec-fetch-site": "same-origin"}


def refresh_cookie(response: httpx.Response) -> dict[str, str]:
    """The `auth_refresh` Set-Cookie as {"value": …, attribute: value} (lower-cased names)."""
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith("auth_refresh=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    first, *attrs = (part.strip() for part in found[0].split(";"))
    out = {"value": first.partition("=")[2].strip('"')}
    for attr in attrs:
        name, _, value = attr.partition("=")
        out[name.lower()] = value
    return out


async def browser_sign_up(http: httpx.AsyncClient, stack: AuthStack) -> tuple[dict[str, Any], str]:
    r = await http.post(
        "/auth/register", json={"email": new_email(), "password": PASSWORD}, headers=same_site(stack)
    )
    assert r.status_code == 201, r.text
    return r.json()["data"], refresh_cookie(r)["value"]


async def test_a_browser_gets_the_refresh_token_only_in_a_strict_cookie(start_stack: StartStack) -> None:
    stack: AuthStack = await start_stack()
    async with stack.http() as http:
        email = new_email()
        r = await http.post("/auth/register", json={"email": email, "password": PASSWORD}, headers=BROWSER)
        assert r.status_code == 201, r.text
        assert r.json()["data"]["refresh_token"] is None
        assert r.headers["cache-control"] == "no-store"
        cookie = refresh_cookie(r)
        assert cookie["value"].startswith("rt_")
        assert cookie["path"] == "/auth/refresh"
        assert cookie["samesite"].lower() == "strict"
        assert "httponly" in cookie and "secure" in cookie
        assert cookie["max-age"] == str(int(stack.settings.refresh_token_ttl))

        # Login answers the same way; the refresh cookie alone (no body) gives a new pair.
        r = await http.post("/auth/login", json={"email": email, "password": PASSWORD}, headers=BROWSER)
        assert r.status_code == 200 and r.json()["data"]["refresh_token"] is None
        first = refresh_cookie(r)["value"]
        r = await http.post(
            "/auth/refresh", json={}, headers={**same_site(stack), "cookie": f"auth_refresh={first}"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        pair = r.json()["data"]
        rotated = refresh_cookie(r)["value"]
        assert pair["refresh_token"] is None and rotated not in (first, "")
        assert (await http.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 200
        # No body at all works too (the web UI sends `{}`).
        r = await http.post(
            "/auth/refresh", headers={**same_site(stack), "cookie": f"auth_refresh={rotated}"}
        )
        assert r.status_code == 200, r.text


async def test_every_sign_in_way_answers_with_the_cookie(start_stack: StartStack) -> None:
    """Emailed code, magic link and password reset: the same transport as register and login."""
    stack: AuthStack = await start_stack()
    async with stack.http() as http:
        email = new_email()
        assert (await http.post("/auth/code", json={"email": email}, headers=BROWSER)).status_code == 202
        code = await stack.inbox.wait_for(email, "auth_code")
        by_code = await http.post("/auth/code/verify", json={"email": email, "code": code}, headers=BROWSER)
        assert (
            await http.post("/auth/magic-link", json={"email": email}, headers=BROWSER)
        ).status_code == 202
        token = link_token(await stack.inbox.wait_for(email, "magic_link"))
        by_link = await http.get("/auth/magic-link/verify", params={"token": token}, headers=BROWSER)
        assert (
            await http.post("/auth/password/forgot", json={"email": email}, headers=BROWSER)
        ).status_code == 202
        code = await stack.inbox.wait_for(email, "password_reset")
        by_reset = await http.post(
            "/auth/password/reset", json={"email": email, "code": code, "password": PASSWORD}, headers=BROWSER
        )
    for r in (by_code, by_link, by_reset):
        assert r.status_code == 200, r.text
        assert r.json()["data"]["refresh_token"] is None and r.headers["cache-control"] == "no-store"
        assert refresh_cookie(r)["value"].startswith("rt_")


async def test_a_cookie_refresh_that_could_come_from_another_site_is_403_and_changes_nothing(
    start_stack: StartStack,
) -> None:
    stack: AuthStack = await start_stack()
    async with stack.http() as http:
        _, token = await browser_sign_up(http, stack)
        cookie = {"cookie": f"auth_refresh={token}"}
        refusals = {
            "csrf_header_missing": cookie,
            "cross_site_refresh": {**same_site(stack), **cookie, "origin": "https://evil.example"},
        }
        for code, headers in refusals.items():
            r = await http.post("/auth/refresh", json={}, headers=headers)
            assert r.status_code == 403 and error_code(r) == code, r.text
            assert "set-cookie" not in r.headers
        r = await http.post(
            "/auth/refresh", json={}, headers={**same_site(stack), **cookie, "sec-fetch-site": "cross-site"}
        )
        assert r.status_code == 403 and error_code(r) == "cross_site_refresh"
        # The refused attempts used nothing up: the token is still the live one, not a reuse.
        r = await http.post("/auth/refresh", json={}, headers={**same_site(stack), **cookie})
        assert r.status_code == 200, r.text


async def test_api_clients_keep_the_refresh_token_in_the_body(start_stack: StartStack) -> None:
    stack: AuthStack = await start_stack()
    async with stack.http() as http:
        r = await http.post("/auth/register", json={"email": new_email(), "password": PASSWORD})
        assert r.status_code == 201 and "set-cookie" not in r.headers
        assert r.headers["cache-control"] == "no-store"
        token = r.json()["data"]["refresh_token"]
        assert token.startswith("rt_")
        r = await http.post("/auth/refresh", json={"refresh_token": token})
        assert r.status_code == 200 and r.json()["data"]["refresh_token"].startswith("rt_")
        assert "set-cookie" not in r.headers
        r = await http.post("/auth/refresh", json={})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "refresh_token"


async def test_a_stored_body_token_is_exchanged_for_the_cookie(start_stack: StartStack) -> None:
    """What the web UI does once with a refresh token an older version left in localStorage."""
    stack: AuthStack = await start_stack()
    async with stack.http() as http:
        r = await http.post("/auth/register", json={"email": new_email(), "password": PASSWORD})
        old = r.json()["data"]["refresh_token"]
        r = await http.post("/auth/refresh", json={"refresh_token": old}, headers=same_site(stack))
        assert r.status_code == 200 and r.json()["data"]["refresh_token"] is None
        assert refresh_cookie(r)["value"].startswith("rt_")


async def test_signing_out_clears_the_cookie_and_a_dead_cookie_is_cleared(start_stack: StartStack) -> None:
    stack: AuthStack = await start_stack()
    async with stack.http() as http:
        for ending in ("logout", "everywhere", "this session"):
            pair, token = await browser_sign_up(http, stack)
            signed_in = {**BROWSER, **bearer(pair["access_token"])}
            if ending == "logout":
                r = await http.post("/auth/logout", json={}, headers=signed_in)
            elif ending == "everywhere":
                r = await http.delete("/auth/sessions", headers=signed_in)
            else:
                sid = segment(pair["access_token"], 1)["sid"]
                r = await http.delete(f"/auth/sessions/{sid}", headers=signed_in)
            assert r.status_code == 204, r.text
            cleared = refresh_cookie(r)
            assert cleared["value"] == "" and cleared["max-age"] == "0"
            assert cleared["path"] == "/auth/refresh"
            # A browser that kept it anyway: 401, and told again to drop it.
            r = await http.post(
                "/auth/refresh", json={}, headers={**same_site(stack), "cookie": f"auth_refresh={token}"}
            )
            assert r.status_code == 401 and error_code(r) == "invalid_refresh_token"
            cleared = refresh_cookie(r)
            assert cleared["value"] == "" and cleared["max-age"] == "0"
        # No cookie at all: 401 (nothing to restore), not a validation error.
        r = await http.post("/auth/refresh", json={}, headers=same_site(stack))
        assert r.status_code == 401 and error_code(r) == "invalid_refresh_token"
