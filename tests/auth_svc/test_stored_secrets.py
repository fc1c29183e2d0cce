"""What PostgreSQL holds after every kind of secret went through the API: hashes only."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.auth_svc.conftest import StartStack
from tests.support.auth import bearer, link_token, new_email, register

TABLES = ("auth_users", "auth_sessions", "auth_refresh_tokens", "auth_codes", "auth_api_keys")


async def test_rows_hold_no_plaintext_password_code_token_or_key(start_stack: StartStack) -> None:
    # The production cost (the suite elsewhere uses bcrypt's floor to save CPU).
    auth = await start_stack("postgres", password_hash_cost=12)
    password, new_password = "first secret pass", "second secret pass"
    secrets: list[str] = [password, new_password]
    codes: list[str] = []
    async with auth.http() as http:
        account = await register(http, password=password)
        email = account["user"]["email"]
        secrets.append(account["refresh_token"])
        r = await http.post("/auth/refresh", json={"refresh_token": account["refresh_token"]})
        secrets.append(r.json()["data"]["refresh_token"])

        other = new_email("coded")
        await http.post("/auth/code", json={"email": other})
        codes.append(await auth.inbox.wait_for(other, "auth_code"))
        await http.post("/auth/code", json={"email": other})  # left unused in the table
        codes.append(await auth.inbox.wait_for(other, "auth_code"))

        await http.post("/auth/magic-link", json={"email": other})
        link = await auth.inbox.wait_for(other, "magic_link")
        secrets.append(link_token(link))

        await http.post("/auth/password/forgot", json={"email": email})
        reset = await auth.inbox.wait_for(email, "password_reset")
        codes.append(reset)
        r = await http.post(
            "/auth/password/reset", json={"email": email, "code": reset, "password": new_password}
        )
        assert r.status_code == 200
        signed_in = r.json()["data"]
        secrets.append(signed_in["refresh_token"])

        r = await http.post("/auth/api-keys", json={"name": "k"}, headers=bearer(signed_in["access_token"]))
        secrets.append(r.json()["data"]["key"])

    conn = await asyncpg.connect(auth.settings.database_url)
    try:
        rows: dict[str, list[dict[str, Any]]] = {
            table: [dict(r) for r in await conn.fetch(f"SELECT * FROM {table}")] for table in TABLES
        }
    finally:
        await conn.close()
    assert all(rows[t] for t in TABLES), {t: len(v) for t, v in rows.items()}
    texts = [str(v) for table in rows.values() for row in table for v in row.values() if isinstance(v, str)]
    everything = "\n".join(str(v) for table in rows.values() for row in table for v in row.values())
    for secret in secrets:
        assert secret not in everything
    for code in codes:
        assert not any(code in text for text in texts), code
    hashes = [row["password_hash"] for row in rows["auth_users"] if row["password_hash"]]
    assert hashes and all(h.startswith("$2b$12$") and len(h) == 60 for h in hashes)
