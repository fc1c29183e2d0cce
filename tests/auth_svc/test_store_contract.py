"""One contract, two stores: the in-memory store and PostgreSQL behave the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from auth_svc.app import MIGRATIONS
from auth_svc.store import (
    ApiKeyRecord,
    AuthStore,
    CodeRecord,
    EmailTaken,
    RefreshRecord,
    SessionRecord,
    UserRecord,
)
from auth_svc.store_memory import MemoryStore
from auth_svc.store_pg import PgStore
from chassis import db
from tests.support.pg import fresh_database

NOW = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
DAY = timedelta(days=1)
NO_GRACE = timedelta(0)
GRACE = timedelta(seconds=10)


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[AuthStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = await fresh_database(request.getfixturevalue("postgres_url"))
    pool = await db.create_pool(url, min_size=1, max_size=4)
    try:
        await db.migrate(pool, "auth", MIGRATIONS)
        yield PgStore(pool)
    finally:
        await pool.close()


def new_id() -> str:
    return str(uuid.uuid4())


def user(email: str | None = None, **kwargs: object) -> UserRecord:
    fields: dict[str, object] = {
        "id": new_id(),
        "email": email or f"u-{uuid.uuid4().hex[:8]}@example.com",
        "password_hash": "$2b$12$hash",
        "display_name": "Someone",
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(kwargs)
    return UserRecord(**fields)  # type: ignore[arg-type]


async def session_for(store: AuthStore, user_id: str, refresh_hash: str, *, at: datetime = NOW) -> str:
    sid = new_id()
    await store.create_session(
        SessionRecord(
            id=sid, user_id=user_id, created_at=at, last_used_at=at, expires_at=at + DAY, user_agent="ua"
        ),
        RefreshRecord(token_hash=refresh_hash, session_id=sid, created_at=at, expires_at=at + DAY),
    )
    return sid


def code(email: str, purpose: str = "login", code_hash: str = "h1", at: datetime = NOW) -> CodeRecord:
    return CodeRecord(
        id=new_id(),
        email=email,
        purpose=purpose,  # type: ignore[arg-type]
        code_hash=code_hash,
        created_at=at,
        expires_at=at + timedelta(minutes=10),
    )


async def test_users_round_trip_and_emails_are_unique(store: AuthStore) -> None:
    alice = user("alice@example.com", bio="hi", avatar_media_id="m1", is_admin=True)
    await store.create_user(alice)
    assert await store.get_user(alice.id) == alice
    assert await store.get_user_by_email("alice@example.com") == alice
    with pytest.raises(EmailTaken):
        await store.create_user(user("alice@example.com"))
    assert await store.get_user(new_id()) is None
    assert await store.get_user("not-a-uuid") is None
    assert await store.get_user_by_email("nobody@example.com") is None


async def test_get_users_keeps_order_and_skips_unknown(store: AuthStore) -> None:
    a, b = user(), user()
    await store.create_user(a)
    await store.create_user(b)
    found = await store.get_users([b.id, new_id(), "junk", a.id, b.id])
    assert [u.id for u in found] == [b.id, a.id]
    assert await store.get_users([]) == []


async def test_update_user_changes_only_given_fields(store: AuthStore) -> None:
    a = user(bio="old")
    await store.create_user(a)
    later = NOW + DAY
    updated = await store.update_user(a.id, {"display_name": "New", "avatar_media_id": None}, later)
    assert updated is not None
    assert (updated.display_name, updated.bio, updated.avatar_media_id) == ("New", "old", None)
    assert updated.updated_at == later and updated.created_at == NOW
    assert await store.get_user(a.id) == updated
    assert await store.update_user(new_id(), {"bio": "x"}, later) is None
    with pytest.raises(ValueError):
        await store.update_user(a.id, {"email": "evil@example.com"}, later)


async def test_a_first_password_is_set_only_when_there_is_none(store: AuthStore) -> None:
    coded, with_password = user(password_hash=None), user()
    await store.create_user(coded)
    await store.create_user(with_password)
    later = NOW + DAY
    assert await store.set_first_password(coded.id, "$2b$12$first", later) is True
    stored = await store.get_user(coded.id)
    assert stored is not None and (stored.password_hash, stored.updated_at) == ("$2b$12$first", later)
    # Once set (or from the start), another "first" password changes nothing.
    assert await store.set_first_password(coded.id, "$2b$12$second", later) is False
    assert await store.set_first_password(with_password.id, "$2b$12$second", later) is False
    assert (await store.get_user(coded.id)) == stored
    assert (await store.get_user(with_password.id)) == with_password
    assert await store.set_first_password(new_id(), "$2b$12$x", later) is False
    assert await store.set_first_password("junk", "$2b$12$x", later) is False


async def test_sessions_list_active_only_and_revoke(store: AuthStore) -> None:
    a = user()
    await store.create_user(a)
    first = await session_for(store, a.id, "r1")
    second = await session_for(store, a.id, "r2", at=NOW + timedelta(seconds=1))
    third = await session_for(store, a.id, "r3", at=NOW + timedelta(seconds=2))
    assert [s.id for s in await store.list_sessions(a.id, NOW)] == [third, second, first]
    await store.revoke_session(second, NOW)
    assert [s.id for s in await store.list_sessions(a.id, NOW)] == [third, first]
    revoked = await store.revoke_user_sessions(a.id, NOW, keep=third)
    assert revoked == [first]
    assert [s.id for s in await store.list_sessions(a.id, NOW)] == [third]
    got = await store.get_session(second)
    assert got is not None and got.revoked_at == NOW
    # Expired sessions are not listed.
    assert await store.list_sessions(a.id, NOW + 2 * DAY) == []


async def test_refresh_rotation_and_reuse(store: AuthStore) -> None:
    a = user()
    await store.create_user(a)
    sid = await session_for(store, a.id, "old")
    later = NOW + timedelta(hours=1)
    ok = await store.rotate_refresh("old", "new", later, later + DAY, grace=NO_GRACE)
    assert (ok.status, ok.session_id, ok.user_id) == ("ok", sid, a.id)
    session = await store.get_session(sid)
    assert session is not None and session.last_used_at == later and session.expires_at == later + DAY
    reused = await store.rotate_refresh("old", "other", later, later + DAY, grace=NO_GRACE)
    assert (reused.status, reused.session_id) == ("reused", sid)
    # A reused token stores nothing: "other" is unknown.
    assert (await store.rotate_refresh("other", "x", later, later + DAY, grace=NO_GRACE)).status == "unknown"
    assert (await store.rotate_refresh("new", "newer", later, later + DAY, grace=NO_GRACE)).status == "ok"


async def test_refresh_of_revoked_or_expired_session_fails(store: AuthStore) -> None:
    a = user()
    await store.create_user(a)
    sid = await session_for(store, a.id, "r-revoked")
    await store.revoke_session(sid, NOW)
    assert (await store.rotate_refresh("r-revoked", "n1", NOW, NOW + DAY, grace=NO_GRACE)).status == "revoked"
    await session_for(store, a.id, "r-expired")
    late = NOW + 2 * DAY
    assert (
        await store.rotate_refresh("r-expired", "n2", late, late + DAY, grace=NO_GRACE)
    ).status == "expired"


async def test_concurrent_refresh_lets_exactly_one_win(store: AuthStore) -> None:
    a = user()
    await store.create_user(a)
    await session_for(store, a.id, "race")
    results = await asyncio.gather(
        *(store.rotate_refresh("race", f"n{i}", NOW, NOW + DAY, grace=NO_GRACE) for i in range(6))
    )
    assert sorted(r.status for r in results) == ["ok"] + ["reused"] * 5


async def test_a_token_used_within_the_grace_window_rotates_again(store: AuthStore) -> None:
    a = user()
    await store.create_user(a)
    sid = await session_for(store, a.id, "tab")
    results = await asyncio.gather(
        *(store.rotate_refresh("tab", f"t{i}", NOW, NOW + DAY, grace=GRACE) for i in range(4))
    )
    assert [(r.status, r.session_id, r.user_id) for r in results] == [("ok", sid, a.id)] * 4
    assert sorted(r.replayed for r in results) == [False, True, True, True]
    # Every tab's new token is live; the window counts from the first use, not the last.
    for i in range(4):
        assert (await store.rotate_refresh(f"t{i}", f"u{i}", NOW, NOW + DAY, grace=GRACE)).status == "ok"
    almost = NOW + GRACE - timedelta(milliseconds=1)
    assert (await store.rotate_refresh("tab", "late", almost, almost + DAY, grace=GRACE)).status == "ok"
    after = NOW + GRACE
    reused = await store.rotate_refresh("tab", "later", after, after + DAY, grace=GRACE)
    assert (reused.status, reused.session_id) == ("reused", sid)
    assert (await store.rotate_refresh("later", "x", after, after + DAY, grace=GRACE)).status == "unknown"


async def test_codes_newest_only_attempts_and_single_use(store: AuthStore) -> None:
    email = "c@example.com"
    first = code(email, code_hash="first")
    await store.put_code(first)
    second = code(email, code_hash="second", at=NOW + timedelta(seconds=1))
    await store.put_code(second)
    other_purpose = code(email, purpose="reset", code_hash="reset")
    await store.put_code(other_purpose)
    latest = await store.latest_code(email, "login")
    assert latest is not None and latest.id == second.id
    assert await store.find_code("first", "login") is None
    assert await store.find_code("reset", "reset") is not None
    assert await store.add_code_failure(second.id) == 1
    assert await store.add_code_failure(second.id) == 2
    assert await store.consume_code(second.id, NOW, max_attempts=5)
    assert not await store.consume_code(second.id, NOW, max_attempts=5)
    consumed = await store.latest_code(email, "login")
    assert consumed is not None and consumed.consumed_at == NOW and consumed.attempts == 2


async def test_locked_code_cannot_be_consumed(store: AuthStore) -> None:
    c = code("l@example.com")
    await store.put_code(c)
    for _ in range(5):
        await store.add_code_failure(c.id)
    assert not await store.consume_code(c.id, NOW, max_attempts=5)


async def test_api_keys(store: AuthStore) -> None:
    a, b = user(), user()
    await store.create_user(a)
    await store.create_user(b)
    key = ApiKeyRecord(
        id=new_id(), user_id=a.id, name="ci", prefix="pck_abcdefgh", key_hash="kh1", created_at=NOW
    )
    newer = ApiKeyRecord(
        id=new_id(), user_id=a.id, name="bot", prefix="pck_12345678", key_hash="kh2", created_at=NOW + DAY
    )
    await store.create_api_key(key)
    await store.create_api_key(newer)
    assert [k.id for k in await store.list_api_keys(a.id)] == [newer.id, key.id]
    assert await store.find_api_key("kh1") == key
    await store.touch_api_key(key.id, NOW + DAY)
    found = await store.find_api_key("kh1")
    assert found is not None and found.last_used_at == NOW + DAY
    assert not await store.revoke_api_key(b.id, key.id, NOW)
    assert not await store.revoke_api_key(a.id, "junk", NOW)
    assert await store.revoke_api_key(a.id, key.id, NOW)
    assert not await store.revoke_api_key(a.id, key.id, NOW)
    assert await store.find_api_key("kh1") is None
    assert [k.id for k in await store.list_api_keys(a.id)] == [newer.id]


async def test_a_sign_up_waits_on_its_code_until_replaced(store: AuthStore) -> None:
    email = "pending@example.com"
    pending = msgspec.structs.replace(
        code(email, code_hash="signup"), signup_password_hash="$2b$12$hash", signup_display_name="Ada"
    )
    await store.put_code(pending)
    found = await store.latest_code(email, "login")
    assert found is not None and found.signup_password_hash == "$2b$12$hash"
    assert found.signup_display_name == "Ada"
    # A newer code of the address (a plain sign-in code) drops the waiting sign-up with it.
    await store.put_code(code(email, code_hash="plain", at=NOW + timedelta(seconds=1)))
    found = await store.latest_code(email, "login")
    assert found is not None and found.signup_password_hash is None and found.signup_display_name == ""


async def test_revoking_all_keys_of_a_user_leaves_other_users_keys(store: AuthStore) -> None:
    a, b = user(), user()
    await store.create_user(a)
    await store.create_user(b)
    mine = [
        ApiKeyRecord(
            id=new_id(), user_id=a.id, name=n, prefix="pck_abcdefgh", key_hash=f"ka{n}", created_at=NOW
        )
        for n in ("1", "2")
    ]
    theirs = ApiKeyRecord(
        id=new_id(), user_id=b.id, name="b", prefix="pck_12345678", key_hash="kb", created_at=NOW
    )
    for key in (*mine, theirs):
        await store.create_api_key(key)
    assert await store.revoke_api_key(a.id, mine[0].id, NOW)

    # Only the keys still active are revoked (and named), once.
    assert await store.revoke_user_api_keys(a.id, NOW + DAY) == [mine[1].id]
    assert await store.revoke_user_api_keys(a.id, NOW + DAY) == []
    assert await store.list_api_keys(a.id) == []
    assert await store.find_api_key("ka2") is None
    assert [k.id for k in await store.list_api_keys(b.id)] == [theirs.id]
