"""In-memory store (no DATABASE_URL): one process's dicts, lost on restart.

Each method runs without awaiting, so every operation is atomic on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

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


class MemoryStore:
    def __init__(self) -> None:
        self.users: dict[str, UserRecord] = {}
        self.by_email: dict[str, str] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.refresh: dict[str, RefreshRecord] = {}
        self.codes: dict[str, CodeRecord] = {}
        self.api_keys: dict[str, ApiKeyRecord] = {}

    # Users

    async def create_user(self, user: UserRecord) -> None:
        if user.email in self.by_email:
            raise EmailTaken(user.email)
        self.users[user.id] = msgspec.structs.replace(user)
        self.by_email[user.email] = user.id

    async def get_user(self, user_id: str) -> UserRecord | None:
        user = self.users.get(user_id)
        return msgspec.structs.replace(user) if user else None

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        user_id = self.by_email.get(email)
        return await self.get_user(user_id) if user_id else None

    async def get_users(self, user_ids: Sequence[str]) -> list[UserRecord]:
        return [msgspec.structs.replace(self.users[i]) for i in dict.fromkeys(user_ids) if i in self.users]

    async def update_user(self, user_id: str, changes: Mapping[str, Any], now: datetime) -> UserRecord | None:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        user = self.users.get(user_id)
        if user is None:
            return None
        updated = msgspec.structs.replace(user, **changes, updated_at=now)
        self.users[user_id] = updated
        return msgspec.structs.replace(updated)

    async def set_first_password(self, user_id: str, password_hash: str, now: datetime) -> bool:
        user = self.users.get(user_id)
        if user is None or user.password_hash is not None:
            return False
        self.users[user_id] = msgspec.structs.replace(user, password_hash=password_hash, updated_at=now)
        return True

    # Sessions and refresh tokens

    async def create_session(self, session: SessionRecord, refresh: RefreshRecord) -> None:
        self.sessions[session.id] = msgspec.structs.replace(session)
        self.refresh[refresh.token_hash] = msgspec.structs.replace(refresh)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        session = self.sessions.get(session_id)
        return msgspec.structs.replace(session) if session else None

    async def list_sessions(self, user_id: str, now: datetime) -> list[SessionRecord]:
        active = [
            msgspec.structs.replace(s)
            for s in self.sessions.values()
            if s.user_id == user_id and s.revoked_at is None and s.expires_at > now
        ]
        return sorted(active, key=lambda s: s.created_at, reverse=True)

    async def revoke_session(self, session_id: str, now: datetime) -> None:
        session = self.sessions.get(session_id)
        if session is not None and session.revoked_at is None:
            session.revoked_at = now

    async def revoke_user_sessions(self, user_id: str, now: datetime, keep: str | None = None) -> list[str]:
        revoked = []
        for session in self.sessions.values():
            if session.user_id == user_id and session.revoked_at is None and session.id != keep:
                session.revoked_at = now
                revoked.append(session.id)
        return revoked

    async def rotate_refresh(
        self, old_hash: str, new_hash: str, now: datetime, expires_at: datetime, *, grace: timedelta
    ) -> Rotation:
        token = self.refresh.get(old_hash)
        if token is None:
            return Rotation(status="unknown")
        session = self.sessions.get(token.session_id)
        user_id = session.user_id if session else None
        replayed = token.used_at is not None
        if token.used_at is not None and not within_grace(token.used_at, now, grace):
            return Rotation(status="reused", session_id=token.session_id, user_id=user_id)
        token.used_at = token.used_at or now
        if session is None or session.revoked_at is not None:
            return Rotation(status="revoked", session_id=token.session_id, user_id=user_id)
        if token.expires_at <= now or session.expires_at <= now:
            return Rotation(status="expired", session_id=token.session_id, user_id=user_id)
        self.refresh[new_hash] = RefreshRecord(
            token_hash=new_hash, session_id=session.id, created_at=now, expires_at=expires_at
        )
        session.last_used_at = now
        session.expires_at = expires_at
        return Rotation(status="ok", session_id=session.id, user_id=session.user_id, replayed=replayed)

    # Codes

    async def put_code(self, code: CodeRecord) -> None:
        stale = [
            c.id
            for c in self.codes.values()
            if (c.email == code.email and c.purpose == code.purpose) or c.expires_at <= code.created_at
        ]
        for code_id in stale:
            del self.codes[code_id]
        self.codes[code.id] = msgspec.structs.replace(code)

    async def latest_code(self, email: str, purpose: CodePurpose) -> CodeRecord | None:
        found = [c for c in self.codes.values() if c.email == email and c.purpose == purpose]
        return msgspec.structs.replace(max(found, key=lambda c: c.created_at)) if found else None

    async def find_code(self, code_hash: str, purpose: CodePurpose) -> CodeRecord | None:
        for code in self.codes.values():
            if code.code_hash == code_hash and code.purpose == purpose:
                return msgspec.structs.replace(code)
        return None

    async def add_code_failure(self, code_id: str) -> int:
        code = self.codes.get(code_id)
        if code is None:
            return 0
        code.attempts += 1
        return code.attempts

    async def consume_code(self, code_id: str, now: datetime, max_attempts: int) -> bool:
        code = self.codes.get(code_id)
        if code is None or code.consumed_at is not None or code.attempts >= max_attempts:
            return False
        code.consumed_at = now
        return True

    # API keys

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        self.api_keys[key.id] = msgspec.structs.replace(key)

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        mine = [
            msgspec.structs.replace(k)
            for k in self.api_keys.values()
            if k.user_id == user_id and k.revoked_at is None
        ]
        return sorted(mine, key=lambda k: k.created_at, reverse=True)

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        for key in self.api_keys.values():
            if key.key_hash == key_hash and key.revoked_at is None:
                return msgspec.structs.replace(key)
        return None

    async def revoke_api_key(self, user_id: str, key_id: str, now: datetime) -> bool:
        key = self.api_keys.get(key_id)
        if key is None or key.user_id != user_id or key.revoked_at is not None:
            return False
        key.revoked_at = now
        return True

    async def revoke_user_api_keys(self, user_id: str, now: datetime) -> list[str]:
        revoked = []
        for key in self.api_keys.values():
            if key.user_id == user_id and key.revoked_at is None:
                key.revoked_at = now
                revoked.append(key.id)
        return revoked

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        key = self.api_keys.get(key_id)
        if key is not None:
            key.last_used_at = now
