"""What others see of an account: its display name, never its email address.

Through the gateway: a sign-up without a name (password or emailed code) gets a generated
handle; a name is changed with `PATCH /auth/me` and refused (422 naming `display_name`) when
blank, too long, holding control characters or an email address. On PostgreSQL, accounts named
after their address's local part by older versions are renamed by a migration."""

from __future__ import annotations

import datetime
import re
import shutil
import uuid
from pathlib import Path

from auth_svc.app import MIGRATIONS
from chassis import db
from tests.auth_svc.conftest import AuthStack
from tests.support.auth import bearer, new_email, register
from tests.support.pg import fresh_database

HANDLE = re.compile(r"^reader-\d{4}$")


def local_part(email: str) -> str:
    return email.split("@", 1)[0]


async def test_a_sign_up_without_a_name_gets_a_handle_not_the_email(auth_stack: AuthStack) -> None:
    email = new_email("ada.lovelace")
    async with auth_stack.http() as http:
        for body in ({}, {"display_name": "   "}):
            address = new_email("ada.lovelace")
            user = (await register(http, address, **body))["user"]
            assert HANDLE.match(user["display_name"]), user
            assert local_part(address) not in user["display_name"]

        r = await http.post("/auth/code", json={"email": email})
        assert r.status_code == 202, r.text
        code = await auth_stack.inbox.wait_for(email, "auth_code")
        r = await http.post("/auth/code/verify", json={"email": email, "code": code})
        assert r.status_code == 200, r.text
        user = r.json()["data"]["user"]
        assert HANDLE.match(user["display_name"]) and "ada" not in user["display_name"]

        # A name given with the code that creates the account is its name; a bad one is refused
        # before the code is spent.
        named = new_email("grace.hopper")
        await http.post("/auth/code", json={"email": named})
        code = await auth_stack.inbox.wait_for(named, "auth_code")
        r = await http.post(
            "/auth/code/verify", json={"email": named, "code": code, "display_name": "grace@navy.mil"}
        )
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "display_name", r.text
        body = {"email": named, "code": code, "display_name": " Grace "}
        r = await http.post("/auth/code/verify", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["user"]["display_name"] == "Grace"

        # What anyone reads about the account: the handle, no address anywhere.
        public = await http.get(f"/auth/users/{user['id']}")
        assert public.status_code == 200 and "@" not in public.text and "lovelace" not in public.text


async def test_a_display_name_is_changed_and_validated(auth_stack: AuthStack) -> None:
    async with auth_stack.http() as http:
        account = await register(http)
        headers = bearer(account["access_token"])
        r = await http.patch("/auth/me", json={"display_name": "  Ada L.  "}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["display_name"] == "Ada L."
        for bad in ("", "   ", "x" * 81, "Ada\u0007", "line\nbreak", "ada@example.com", "me: a@b.co"):
            r = await http.patch("/auth/me", json={"display_name": bad}, headers=headers)
            assert r.status_code == 422, (bad, r.text)
            body = r.json()
            assert set(body) == {"error", "meta"}, body
            assert body["error"]["details"]["field"] == "display_name", body
        # A refused change changed nothing; a bad name at sign-up is refused the same way.
        me = (await http.get("/auth/me", headers=headers)).json()["data"]
        assert me["display_name"] == "Ada L."
        r = await http.post(
            "/auth/register",
            json={"email": new_email(), "password": "correct horse battery", "display_name": "a@b.co"},
        )
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "display_name", r.text


async def test_accounts_named_after_their_address_are_renamed(postgres_url: str, tmp_path: Path) -> None:
    """Migration 0002 on a database that 0001 made and older versions filled."""
    url = await fresh_database(postgres_url)
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(MIGRATIONS / "0001_accounts.sql", first)
    pool = await db.create_pool(url, min_size=1, max_size=2)
    try:
        await db.migrate(pool, "auth", first)
        now = datetime.datetime.now(datetime.UTC)
        rows = {
            "ada.lovelace@example.com": "ada.lovelace",  # the old default: renamed
            "grace@example.com": "Grace Hopper",  # chosen: kept
            "starters@system.invalid": "starters",  # a system account: kept
        }
        for email, name in rows.items():
            await pool.execute(
                "INSERT INTO auth_users (id, email, display_name, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $4)",
                uuid.uuid4(),
                email,
                name,
                now,
            )
        assert (await db.migrate(pool, "auth", MIGRATIONS))[0] == 2
        rows_now = await pool.fetch("SELECT email, display_name FROM auth_users")
        names: dict[str, str] = {r["email"]: r["display_name"] for r in rows_now}
    finally:
        await pool.close()
    assert HANDLE.match(names["ada.lovelace@example.com"]), names
    assert names["grace@example.com"] == "Grace Hopper"
    assert names["starters@system.invalid"] == "starters"
