"""Sign-up with a password (SIGNUP_CONFIRMATION=email, the default): the answer never tells who
has an account, the emailed code completes it, and sign-ups are limited per client and domain."""

from __future__ import annotations

import pytest

from tests.auth_svc.conftest import BACKENDS, AuthStack, StartStack
from tests.support.auth import PASSWORD, bearer, error_code, new_email
from tests.support.users import sign_up

# Counters are per fixed window; a day-long window keeps a test from straddling two.
WINDOW = 86400
STARTED = {"status": "check_email"}


@pytest.fixture(params=BACKENDS)
async def signup_stack(request: pytest.FixtureRequest, start_stack: StartStack) -> AuthStack:
    started: AuthStack = await start_stack(request.param, signup_confirmation="email")
    return started


async def test_a_new_address_gets_its_account_only_with_the_emailed_code(signup_stack: AuthStack) -> None:
    email = new_email("ada")
    async with signup_stack.http() as http:
        r = await http.post(
            "/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Ada"}
        )
        assert r.status_code == 202, r.text
        assert r.json()["data"] == STARTED
        # No account until the code comes back: the password does not sign in yet.
        r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 401, r.text
        code = await signup_stack.inbox.wait_for(email, "signup_code")
        r = await http.post("/auth/code/verify", json={"email": email, "code": code, "password": PASSWORD})
        assert r.status_code == 200, r.text
        pair = r.json()["data"]
        assert pair["user"]["display_name"] == "Ada" and pair["user"]["has_password"] is True
        me = await http.get("/auth/me", headers=bearer(pair["access_token"]))
        assert me.status_code == 200 and me.json()["data"]["email"] == email
        # The password given at sign-up is the account's.
        r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        # The code was single use.
        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 401 and error_code(r) == "invalid_code"


async def test_a_stranger_signing_up_with_my_address_never_sets_my_password(signup_stack: AuthStack) -> None:
    """Mallory signs up with Ada's address; Ada, who reads the mail, finishes with the code but
    her own password: the account is Ada's, without Mallory's password."""
    email = new_email("ada")
    async with signup_stack.http() as http:
        body = {"email": email, "password": "mallory's password", "display_name": "Mallory"}
        assert (await http.post("/auth/register", json=body)).status_code == 202
        code = await signup_stack.inbox.wait_for(email, "signup_code")
        r = await http.post("/auth/code/verify", json={"email": email, "code": code, "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["user"]["has_password"] is False
        for password in ("mallory's password", PASSWORD):
            r = await http.post("/auth/login", json={"email": email, "password": password})
            assert r.status_code == 401, (password, r.text)
        # The same when the code comes back with no password at all.
        other = new_email("grace")
        assert (await http.post("/auth/register", json={**body, "email": other})).status_code == 202
        code = await signup_stack.inbox.wait_for(other, "signup_code")
        r = await http.post("/auth/code/verify", json={"email": other, "code": code})
        assert r.status_code == 200 and r.json()["data"]["user"]["has_password"] is False, r.text


async def test_a_taken_address_gets_the_same_answer_and_its_owner_a_sign_in_code(
    signup_stack: AuthStack,
) -> None:
    email = new_email("owner")
    async with signup_stack.http() as http:
        await http.post("/auth/register", json={"email": email, "password": PASSWORD})
        code = await signup_stack.inbox.wait_for(email, "signup_code")
        verify = {"email": email, "code": code, "password": PASSWORD}
        owner = (await http.post("/auth/code/verify", json=verify)).json()["data"]

        # Someone else signs up with the owner's address: the same answer as for a new one.
        intruder = {"email": email, "password": "intruder password", "display_name": "Mallory"}
        r = await http.post("/auth/register", json=intruder)
        assert r.status_code == 202, r.text
        assert r.json()["data"] == STARTED
        # The owner's mail offers a sign-in code into the existing account; nothing changed.
        code = await signup_stack.inbox.wait_for(email, "signup_existing")
        fresh = await http.post("/auth/register", json={**intruder, "email": new_email("fresh")})
        assert (fresh.status_code, fresh.json()["data"]) == (r.status_code, r.json()["data"])

        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 200, r.text
        signed_in = r.json()["data"]["user"]
        assert (
            signed_in["id"] == owner["user"]["id"]
            and signed_in["display_name"] == owner["user"]["display_name"]
        )
        r = await http.post("/auth/login", json={"email": email, "password": "intruder password"})
        assert r.status_code == 401
        r = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
    if signup_stack.notify is not None:
        mail = [b for b in signup_stack.notify.delivered() if b["template"] == "signup_existing"][-1]
        assert mail["to"] == email and "Nothing was changed" in mail["text"]


async def test_sign_ups_are_limited_per_client(start_stack: StartStack) -> None:
    auth = await start_stack(signup_confirmation="email", signup_rate_per_client=2, login_rate_window=WINDOW)
    async with auth.http() as http, auth.http(source="127.0.0.2") as elsewhere:
        for _ in range(2):
            r = await http.post("/auth/register", json={"email": new_email(), "password": PASSWORD})
            assert r.status_code == 202, r.text
        email = new_email("third")
        r = await http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 429, r.text
        body = r.json()
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["details"]["limit"] == "signup_per_client"
        assert "too many sign-ups from this network" in body["error"]["message"]
        assert 1 <= int(r.headers["retry-after"]) <= WINDOW
        # Refused before anything was stored or sent: the address stays free, another client
        # signs it up.
        r = await elsewhere.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 202, r.text
        code = await auth.inbox.wait_for(email, "signup_code")
        assert (
            await elsewhere.post("/auth/code/verify", json={"email": email, "code": code})
        ).status_code == 200


async def test_sign_ups_are_limited_per_email_domain(start_stack: StartStack) -> None:
    auth = await start_stack(signup_confirmation="email", signup_rate_per_domain=2, login_rate_window=WINDOW)
    sources = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
    answers = []
    for source in sources:
        async with auth.http(source=source) as http:
            r = await http.post("/auth/register", json={"email": new_email(), "password": PASSWORD})
            answers.append(r)
    assert [r.status_code for r in answers] == [202, 202, 429]
    error = answers[-1].json()["error"]
    assert error["details"]["limit"] == "signup_per_domain"
    assert "example.com" in error["message"] and "retry-after" in answers[-1].headers
    # Another domain is not affected.
    async with auth.http(source="127.0.0.4") as http:
        r = await http.post("/auth/register", json={"email": "someone@example.org", "password": PASSWORD})
        assert r.status_code == 202, r.text


async def test_without_confirmation_the_account_exists_at_once(start_stack: StartStack) -> None:
    auth = await start_stack(signup_confirmation="none")
    email = new_email()
    async with auth.http() as http:
        r = await http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201 and r.json()["data"]["access_token"], r.text
        r = await http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 409 and error_code(r) == "email_taken"


async def test_the_shared_sign_up_helper_completes_with_the_mailed_code(signup_stack: AuthStack) -> None:
    async def mailed(email: str) -> str:
        return await signup_stack.inbox.wait_for(email, "signup_code")

    async with signup_stack.http() as http:
        user = await sign_up(http, "helper", code=mailed)
        me = await http.get("/auth/me", headers=user.headers)
        assert me.status_code == 200 and me.json()["data"]["email"] == user.email
