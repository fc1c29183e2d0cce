"""PostgreSQL / CockroachDB store through asyncpg (the only module of auth_svc with SQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from auth_svc.store import (
    USER_FIELDS,
    ApiKeyRecord,
    CodePurpose,
    CodeRecord,
    EmailTaken,
    RefreshRecord,
    Rotation,
    SessionRecord,
    UserRecord,
    within_grace,
)
from chassis.db import changed_by_id, fetch_all, fetch_by_id, fetch_one
from chassis.ids import parse_uuid

USER_COLUMNS = (
    "id, email, password_hash, display_name, bio, avatar_media_id, is_admin, created_at, updated_at"
)
SESSION_COLUMNS = "id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, client"
CODE_COLUMNS = (
    "id, email, purpose, code_hash, attempts, created_at, expires_at, consumed_at,"
    " signup_password_hash, signup_display_name"
)
KEY_COLUMNS = "id, user_id, name, prefix, key_hash, created_at, last_used_at, revoked_at"


class PgStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # Users

    async def create_user(self, user: UserRecord) -> None:
        try:
            await self.pool.execute(
                f"INSERT INTO auth_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                user.id,
                user.email,
                user.password_hash,
                user.display_name,
                user.bio,
                user.avatar_media_id,
                user.is_admin,
                user.created_at,
                user.updated_at,
            )
        except asyncpg.exceptions.UniqueViolationError:
            raise EmailTaken(user.email) from None

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await fetch_by_id(
            self.pool, UserRecord, f"SELECT {USER_COLUMNS} FROM auth_users WHERE id = $1", user_id
        )

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        return await fetch_one(
            self.pool, UserRecord, f"SELECT {USER_COLUMNS} FROM auth_users WHERE email = $1", email
        )

    async def get_users(self, user_ids: Sequence[str]) -> list[UserRecord]:
        ids = [u for u in (parse_uuid(i) for i in dict.fromkeys(user_ids)) if u is not None]
        if not ids:
            return []
        rows = await fetch_all(
            self.pool, UserRecord, f"SELECT {USER_COLUMNS} FROM auth_users WHERE id = ANY($1::UUID[])", ids
        )
        found = {u.id: u for u in rows}
        return [found[i] for i in dict.fromkeys(user_ids) if i in found]

    async def update_user(self, user_id: str, changes: Mapping[str, Any], now: datetime) -> UserRecord | None:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        uid = parse_uuid(user_id)
        if uid is None:
            return None
        names = list(changes)
        # Column names come from USER_FIELDS only; values are parameters.
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
        return await fetch_one(
            self.pool,
            UserRecord,
            f"UPDATE auth_users SET updated_at = $2{', ' if sets else ''}{sets}"
            f" WHERE id = $1 RETURNING {USER_COLUMNS}",
            uid,
            now,
            *(changes[n] for n in names),
        )

    async def set_first_password(self, user_id: str, password_hash: str, now: datetime) -> bool:
        # Conditional, so of two racing "first" passwords one wins and the other must know it.
        return await changed_by_id(
            self.pool,
            "UPDATE auth_users SET password_hash = $2, updated_at = $3"
            " WHERE id = $1 AND password_hash IS NULL RETURNING 1",
            user_id,
            password_hash,
            now,
        )

    # Sessions and refresh tokens

    async def create_session(self, session: SessionRecord, refresh: RefreshRecord) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO auth_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                session.id,
                session.user_id,
                session.created_at,
                session.last_used_at,
                session.expires_at,
                session.revoked_at,
                session.user_agent,
                session.client,
            )
            await conn.execute(
                "INSERT INTO auth_refresh_tokens (token_hash, session_id, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4)",
                refresh.token_hash,
                refresh.session_id,
                refresh.created_at,
                refresh.expires_at,
            )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return await fetch_by_id(
            self.pool, SessionRecord, f"SELECT {SESSION_COLUMNS} FROM auth_sessions WHERE id = $1", session_id
        )

    async def list_sessions(self, user_id: str, now: datetime) -> list[SessionRecord]:
        return await fetch_all(
            self.pool,
            SessionRecord,
            f"SELECT {SESSION_COLUMNS} FROM auth_sessions"
            " WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC",
            user_id,
            now,
        )

    async def revoke_session(self, session_id: str, now: datetime) -> None:
        sid = parse_uuid(session_id)
        if sid is not None:
            await self.pool.execute(
                "UPDATE auth_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", sid, now
            )

    async def revoke_user_sessions(self, user_id: str, now: datetime, keep: str | None = None) -> list[str]:
        rows = await self.pool.fetch(
            "UPDATE auth_sessions SET revoked_at = $2"
            " WHERE user_id = $1 AND revoked_at IS NULL AND ($3::UUID IS NULL OR id <> $3::UUID)"
            " RETURNING id",
            user_id,
            now,
            parse_uuid(keep) if keep else None,
        )
        return [r["id"] for r in rows]

    async def rotate_refresh(
        self, old_hash: str, new_hash: str, now: datetime, expires_at: datetime, *, grace: timedelta
    ) -> Rotation:
        async with self.pool.acquire() as conn, conn.transaction():
            # The conditional UPDATE is the lock: of two racing requests one sees used_at set.
            used = await conn.fetchrow(
                "UPDATE auth_refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL"
                " RETURNING session_id, expires_at",
                old_hash,
                now,
            )
            replayed = used is None
            if used is None:
                seen = await conn.fetchrow(
                    "SELECT r.session_id, r.expires_at, r.used_at, s.user_id FROM auth_refresh_tokens r"
                    " JOIN auth_sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
                    old_hash,
                )
                if seen is None:
                    return Rotation(status="unknown")
                if not within_grace(seen["used_at"], now, grace):
                    return Rotation(status="reused", session_id=seen["session_id"], user_id=seen["user_id"])
                used = seen
            session = await conn.fetchrow(
                "SELECT user_id, revoked_at, expires_at FROM auth_sessions WHERE id = $1", used["session_id"]
            )
            sid = used["session_id"]
            uid = session["user_id"] if session else None
            if session is None or session["revoked_at"] is not None:
                return Rotation(status="revoked", session_id=sid, user_id=uid)
            if used["expires_at"] <= now or session["expires_at"] <= now:
                return Rotation(status="expired", session_id=sid, user_id=uid)
            await conn.execute(
                "INSERT INTO auth_refresh_tokens (token_hash, session_id, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4)",
                new_hash,
                used["session_id"],
                now,
                expires_at,
            )
            await conn.execute(
                "UPDATE auth_sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1",
                used["session_id"],
                now,
                expires_at,
            )
            return Rotation(status="ok", session_id=sid, user_id=uid, replayed=replayed)

    # Codes

    async def put_code(self, code: CodeRecord) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM auth_codes WHERE (email = $1 AND purpose = $2) OR expires_at <= $3",
                code.email,
                code.purpose,
                code.created_at,
            )
            await conn.execute(
                f"INSERT INTO auth_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                code.id,
                code.email,
                code.purpose,
                code.code_hash,
                code.attempts,
                code.created_at,
                code.expires_at,
                code.consumed_at,
                code.signup_password_hash,
                code.signup_display_name,
            )

    async def latest_code(self, email: str, purpose: CodePurpose) -> CodeRecord | None:
        return await fetch_one(
            self.pool,
            CodeRecord,
            f"SELECT {CODE_COLUMNS} FROM auth_codes WHERE email = $1 AND purpose = $2"
            " ORDER BY created_at DESC LIMIT 1",
            email,
            purpose,
        )

    async def find_code(self, code_hash: str, purpose: CodePurpose) -> CodeRecord | None:
        return await fetch_one(
            self.pool,
            CodeRecord,
            f"SELECT {CODE_COLUMNS} FROM auth_codes WHERE code_hash = $1 AND purpose = $2",
            code_hash,
            purpose,
        )

    async def add_code_failure(self, code_id: str) -> int:
        attempts = await self.pool.fetchval(
            "UPDATE auth_codes SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", code_id
        )
        return int(attempts or 0)

    async def consume_code(self, code_id: str, now: datetime, max_attempts: int) -> bool:
        row = await self.pool.fetchval(
            "UPDATE auth_codes SET consumed_at = $2"
            " WHERE id = $1 AND consumed_at IS NULL AND attempts < $3 RETURNING id",
            code_id,
            now,
            max_attempts,
        )
        return row is not None

    # API keys

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        await self.pool.execute(
            f"INSERT INTO auth_api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            key.id,
            key.user_id,
            key.name,
            key.prefix,
            key.key_hash,
            key.created_at,
            key.last_used_at,
            key.revoked_at,
        )

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        return await fetch_all(
            self.pool,
            ApiKeyRecord,
            f"SELECT {KEY_COLUMNS} FROM auth_api_keys WHERE user_id = $1 AND revoked_at IS NULL"
            " ORDER BY created_at DESC",
            user_id,
        )

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        return await fetch_one(
            self.pool,
            ApiKeyRecord,
            f"SELECT {KEY_COLUMNS} FROM auth_api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            key_hash,
        )

    async def revoke_api_key(self, user_id: str, key_id: str, now: datetime) -> bool:
        return await changed_by_id(
            self.pool,
            "UPDATE auth_api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"
            " RETURNING id",
            key_id,
            user_id,
            now,
        )

    async def revoke_user_api_keys(self, user_id: str, now: datetime) -> list[str]:
        rows = await self.pool.fetch(
            "UPDATE auth_api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
            user_id,
            now,
        )
        return [r["id"] for r in rows]

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        await self.pool.execute("UPDATE auth_api_keys SET last_used_at = $2 WHERE id = $1", key_id, now)
