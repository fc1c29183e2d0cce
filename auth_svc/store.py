"""The store protocol of auth_svc and its records; `store_memory` and `store_pg` implement it.

Secrets arrive here already hashed: no record holds a password, code, refresh token,
magic-link token or API key in the clear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import msgspec

CodePurpose = Literal["login", "magic", "reset"]
RotateStatus = Literal["ok", "reused", "unknown", "expired", "revoked"]

# Columns `update_user` may change.
USER_FIELDS = frozenset({"display_name", "bio", "avatar_media_id", "password_hash", "is_admin"})


class EmailTaken(Exception):
    pass


class UserRecord(msgspec.Struct, kw_only=True):
    id: str
    email: str
    password_hash: str | None = None
    display_name: str
    bio: str = ""
    avatar_media_id: str | None = None
    is_admin: bool = False
    created_at: datetime
    updated_at: datetime


class SessionRecord(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    user_agent: str = ""
    client: str = ""


class RefreshRecord(msgspec.Struct, kw_only=True):
    token_hash: str
    session_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class CodeRecord(msgspec.Struct, kw_only=True):
    id: str
    email: str
    purpose: CodePurpose
    code_hash: str
    attempts: int = 0
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None = None
    # A sign-up waiting for this (login) code: the account is created with them when the
    # code is verified and the address has no account by then.
    signup_password_hash: str | None = None
    signup_display_name: str = ""


class ApiKeyRecord(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Rotation(msgspec.Struct, kw_only=True):
    """Outcome of presenting a refresh token: on "ok" the new one is stored in its place."""

    status: RotateStatus
    session_id: str | None = None
    user_id: str | None = None
    # "ok" for a token already used, presented again within the grace window.
    replayed: bool = False


def within_grace(used_at: datetime | None, now: datetime, grace: timedelta) -> bool:
    """Whether a refresh token first used at `used_at` may be rotated again at `now`."""
    return used_at is not None and grace > timedelta(0) and now < used_at + grace


class AuthStore(Protocol):
    # Users
    async def create_user(self, user: UserRecord) -> None:
        """Raises EmailTaken when the (lower-cased) email exists."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def get_user_by_email(self, email: str) -> UserRecord | None: ...

    async def get_users(self, user_ids: Sequence[str]) -> list[UserRecord]: ...

    async def update_user(self, user_id: str, changes: Mapping[str, Any], now: datetime) -> UserRecord | None:
        """Set the given USER_FIELDS; None when the user does not exist."""

    async def set_first_password(self, user_id: str, password_hash: str, now: datetime) -> bool:
        """Set the password of an account that has none; False when it has one (or is gone)."""

    # Sessions and refresh tokens
    async def create_session(self, session: SessionRecord, refresh: RefreshRecord) -> None: ...

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(self, user_id: str, now: datetime) -> list[SessionRecord]:
        """Active sessions (not revoked, not expired), newest first."""

    async def revoke_session(self, session_id: str, now: datetime) -> None: ...

    async def revoke_user_sessions(self, user_id: str, now: datetime, keep: str | None = None) -> list[str]:
        """Revoke every active session of the user except `keep`; returns the revoked ids."""

    async def rotate_refresh(
        self, old_hash: str, new_hash: str, now: datetime, expires_at: datetime, *, grace: timedelta
    ) -> Rotation:
        """Atomically mark `old_hash` used and store `new_hash` for the same session.

        A token used less than `grace` ago is rotated again ("ok", `replayed`): two tabs that
        refresh at once both get a valid pair of the same session. A token used earlier gives
        "reused" (with its session id) and stores nothing; the caller revokes that session.
        """

    # Codes (login, magic link, reset)
    async def put_code(self, code: CodeRecord) -> None:
        """Store a code, dropping every other code of the same email and purpose."""

    async def latest_code(self, email: str, purpose: CodePurpose) -> CodeRecord | None: ...

    async def find_code(self, code_hash: str, purpose: CodePurpose) -> CodeRecord | None: ...

    async def add_code_failure(self, code_id: str) -> int:
        """Count one wrong try; returns the attempts so far."""

    async def consume_code(self, code_id: str, now: datetime, max_attempts: int) -> bool:
        """Mark used; False when it was used already or is locked (a racing request won)."""

    # API keys
    async def create_api_key(self, key: ApiKeyRecord) -> None: ...

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """Active keys, newest first."""

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The active key with this hash."""

    async def revoke_api_key(self, user_id: str, key_id: str, now: datetime) -> bool: ...

    async def revoke_user_api_keys(self, user_id: str, now: datetime) -> list[str]:
        """Revoke every active key of the user; returns the revoked ids."""

    async def touch_api_key(self, key_id: str, now: datetime) -> None: ...
