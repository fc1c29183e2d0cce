"""Codes, magic links and password reset, with the code read where a user would read it:
the `[DEV]` line (no database) or the message POSTed to the notify service (PostgreSQL)."""

from __future__ import annotations

from tests.auth_svc.conftest import AuthStack, NotifyRecorder, StartStack
from tests.support.auth import (
    PASSWORD,
    bearer,
    error_code,
    link_token,
    login,
    new_email,
    refused,
    register,
)
from tests.support.mesh import Mesh


async def test_code_login_creates_the_account_then_signs_it_in(auth_stack: AuthStack) -> None:
    email = new_email("code")
    async with auth_stack.http() as http:
        r = await http.post("/auth/code", json={"email": email})
        assert r.status_code == 202, r.text
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        assert len(code) == 6 and code.isdigit()
        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 200, r.text
        first = r.json()["data"]
        assert first["user"]["email"] == email and first["user"]["has_password"] is False
        me = await http.get("/auth/me", headers=bearer(first["access_token"]))
        assert me.status_code == 200 and me.json()["data"]["id"] == first["user"]["id"]

        await http.post("/auth/code", json={"email": email.upper()})
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 200 and r.json()["data"]["user"]["id"] == first["user"]["id"]


async def test_a_used_code_is_refused(auth_stack: AuthStack) -> None:
    email = new_email("used")
    async with auth_stack.http() as http:
        await http.post("/auth/code", json={"email": email})
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        assert (await http.post("/auth/code/verify", json={"email": email, "code": code})).status_code == 200
        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 401 and error_code(r) == "invalid_code"


async def test_sixth_wrong_code_is_locked_even_before_the_right_one(auth_stack: AuthStack) -> None:
    email = new_email("brute")
    async with auth_stack.http() as http:
        await http.post("/auth/code", json={"email": email})
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for tries_left in (4, 3, 2, 1, 0):
            r = await http.post("/auth/code/verify", json={"email": email, "code": wrong})
            assert r.status_code == 401 and error_code(r) == "invalid_code"
            assert r.json()["error"]["details"]["tries_left"] == tries_left
        sixth = await http.post("/auth/code/verify", json={"email": email, "code": wrong})
        assert sixth.status_code == 401 and error_code(sixth) == "code_locked"
        right = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert right.status_code == 401 and error_code(right) == "code_locked"
        # A new code starts over.
        await http.post("/auth/code", json={"email": email})
        fresh = await auth_stack.inbox.wait_for(email, "auth_code")
        assert (await http.post("/auth/code/verify", json={"email": email, "code": fresh})).status_code == 200


async def test_only_the_newest_code_is_valid(auth_stack: AuthStack) -> None:
    email = new_email("newest")
    async with auth_stack.http() as http:
        await http.post("/auth/code", json={"email": email})
        older = await auth_stack.inbox.wait_for(email, "auth_code")
        await http.post("/auth/code", json={"email": email})
        newer = await auth_stack.inbox.wait_for(email, "auth_code")
        if older != newer:
            r = await http.post("/auth/code/verify", json={"email": email, "code": older})
            assert r.status_code == 401
        assert (await http.post("/auth/code/verify", json={"email": email, "code": newer})).status_code == 200


async def test_magic_link_signs_in_once(auth_stack: AuthStack) -> None:
    email = new_email("magic")
    async with auth_stack.http() as http:
        r = await http.post("/auth/magic-link", json={"email": email})
        assert r.status_code == 202
        link = await auth_stack.inbox.wait_for(email, "magic_link")
        # By default the link opens the web UI's landing page, which calls the verify endpoint.
        assert link.startswith(f"{auth_stack.settings.public_url}/#/magic?token=")
        token = link_token(link)
        verify = "/auth/magic-link/verify"
        r = await http.get(verify, params={"token": token})
        assert r.status_code == 200, r.text
        signed_in = r.json()["data"]
        assert signed_in["user"]["email"] == email
        assert (await http.get("/auth/me", headers=bearer(signed_in["access_token"]))).status_code == 200
        again = await http.get(verify, params={"token": token})
        assert again.status_code == 401 and error_code(again) == "invalid_link"
        assert (await http.get(verify, params={"token": token[:-2] + "xx"})).status_code == 401
        assert (await http.get(verify)).status_code == 422


async def test_magic_link_url_overrides_the_page(start_stack: StartStack) -> None:
    auth = await start_stack("memory", magic_link_url="https://app.example.com/signin/link?from=mail")
    email = new_email("override")
    async with auth.http() as http:
        assert (await http.post("/auth/magic-link", json={"email": email})).status_code == 202
        link = await auth.inbox.wait_for(email, "magic_link")
        assert link.startswith("https://app.example.com/signin/link?from=mail&token=")
        r = await http.get("/auth/magic-link/verify", params={"token": link_token(link)})
        assert r.status_code == 200 and r.json()["data"]["user"]["email"] == email


async def test_forgot_and_reset_revoke_every_old_session(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        email = account["user"]["email"]
        phone = await login(http, email)
        r = await http.post("/auth/password/forgot", json={"email": email})
        assert r.status_code == 202
        code = await auth_stack.inbox.wait_for(email, "password_reset")
        r = await http.post("/auth/password/reset", json={"email": email, "code": code, "password": "x" * 73})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "password"
        r = await http.post(
            "/auth/password/reset", json={"email": email, "code": code, "password": "brand new secret"}
        )
        assert r.status_code == 200, r.text
        fresh = r.json()["data"]
        for old in (account, phone):
            await refused(http, old["access_token"])
            r = await http.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
            assert r.status_code == 401
        assert (await http.get("/auth/me", headers=bearer(fresh["access_token"]))).status_code == 200
        assert (
            await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        ).status_code == 401
        await login(http, email, "brand new secret")
        r = await http.post(
            "/auth/password/reset", json={"email": email, "code": code, "password": "another new one"}
        )
        assert r.status_code == 401


async def test_code_and_forgot_answer_202_whatever_the_address(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        known = (await register(http))["user"]["email"]
        unknown = new_email("nobody")
        answers = []
        for email in (known, unknown):
            r = await http.post("/auth/password/forgot", json={"email": email})
            answers.append((r.status_code, r.json()["data"]))
        assert answers[0] == answers[1] and answers[0][0] == 202
        await auth_stack.inbox.wait_for(known, "password_reset")
        r = await http.post(
            "/auth/password/reset", json={"email": unknown, "code": "123456", "password": "whatever 123"}
        )
        assert r.status_code == 401 and error_code(r) == "invalid_code"
    if auth_stack.notify is not None:
        assert [b["to"] for b in auth_stack.notify.delivered() if b["template"] == "password_reset"] == [
            known
        ]


async def test_standalone_prints_the_code_even_with_notify_url_set(
    stack: Mesh, start_stack: StartStack
) -> None:
    recorder = NotifyRecorder()
    server = await stack.server(recorder.app)
    standalone = await start_stack("memory", notify_url=f"{server.url}/send")
    email = new_email("dev")
    async with standalone.http() as http:
        assert (await http.post("/auth/code", json={"email": email})).status_code == 202
        code = await standalone.inbox.wait_for(email, "auth_code")
        assert (await http.post("/auth/code/verify", json={"email": email, "code": code})).status_code == 200
    assert recorder.calls == []


async def test_notify_post_is_retried_and_never_logged(start_stack: StartStack) -> None:
    stack_ = await start_stack("postgres", fail_first=2)
    email = new_email("notify")
    async with stack_.http() as http:
        assert (await http.post("/auth/code", json={"email": email})).status_code == 202
        code = await stack_.inbox.wait_for(email, "auth_code")
    assert stack_.notify is not None
    calls = stack_.notify.calls
    assert len(calls) == 3
    assert len({headers["idempotency-key"] for headers, _ in calls}) == 1
    headers, body = calls[-1]
    assert headers["authorization"] == "Bearer notify-secret"
    assert headers["content-type"] == "application/json"
    assert body["to"] == email and body["template"] == "auth_code"
    assert body["from"] == stack_.settings.notify_from
    assert body["data"] == {"code": code, "expires_in": 600}
    assert code in body["text"] and body["subject"]
    printed = stack_.inbox._stdout()
    assert code not in printed and "[DEV]" not in printed
