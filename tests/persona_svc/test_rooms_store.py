"""The room store contract, run against the memory store and PostgreSQL alike: seqs, invites,
removal, the reply queue (one running per room, in order, each ending once) and reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from chassis.clock import utcnow
from chassis.ids import new_id
from persona_svc.app import MIGRATIONS
from persona_svc.store_pg_rooms import PgRoomStore
from persona_svc.store_rooms import InviteRefused, InviteRow, ReplyEnd, RoomRow, RoomStore, code_hash
from persona_svc.store_rooms_memory import MemoryRoomStore
from proto.rooms import RoomMember, RoomMessage, RoomReply
from tests.support.pg import STORE_KINDS, Stores, migrated_database

TABLES = (
    "room_replies",
    "room_message_reports",
    "room_messages",
    "room_invites",
    "room_removals",
    "room_members",
    "rooms",
)


@pytest.fixture(scope="module")
async def rooms_db(postgres_url: str) -> str:
    return await migrated_database(postgres_url, "persona", MIGRATIONS)


STORES = Stores[RoomStore](MemoryRoomStore, PgRoomStore, TABLES)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, rooms_db: str) -> AsyncIterator[RoomStore]:
    async with Stores[RoomStore](MemoryRoomStore, PgRoomStore, TABLES).open(
        request.param, rooms_db
    ) as chosen:
        yield chosen


def member(user_id: str, role: str = "member") -> RoomMember:
    return RoomMember(user_id=user_id, display_name=user_id.title(), role=role, joined_at=utcnow())  # type: ignore[arg-type]


async def a_room(store: RoomStore, owner: str = "olive") -> RoomRow:
    now = utcnow()
    room = RoomRow(
        id=new_id(),
        title="Harbour",
        owner_id=owner,
        persona_ids=["p1", "p2"],
        persona_names=["Mara", "Otto"],
        persona_avatars=["", "m1"],
        created_at=now,
        last_activity_at=now,
    )
    await store.create_room(room, member(owner, "owner"))
    return room


async def invite(
    store: RoomStore,
    room: RoomRow,
    code: str,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
) -> None:
    now = utcnow()
    row = InviteRow(
        code_hash=code_hash(code),
        room_id=room.id,
        created_by=room.owner_id,
        max_uses=max_uses,
        expires_at=expires_at or now + timedelta(hours=1),
        created_at=now,
    )
    await store.add_invite(row)


def message(room: RoomRow, author: str, text: str) -> RoomMessage:
    return RoomMessage(
        id=new_id(),
        room_id=room.id,
        seq=0,
        kind="member",
        author_id=author,
        author_name=author,
        content=text,
        created_at=utcnow(),
    )


def reply(room: RoomRow, persona_id: str, asked_by: str = "ann") -> RoomReply:
    return RoomReply(
        job_id=new_id(),
        room_id=room.id,
        message_id=new_id(),
        persona_id=persona_id,
        asked_by=asked_by,
        created_at=utcnow(),
    )


async def test_concurrent_posts_get_distinct_consecutive_seqs(store: RoomStore) -> None:
    room = await a_room(store)
    stored = await asyncio.gather(*(store.post(message(room, "olive", f"m{i}"), [], 0) for i in range(20)))
    assert sorted(m.seq for m in stored) == list(range(1, 21))
    page = await store.list_messages(room.id, 5, None)
    assert [m.seq for m in page] == [20, 19, 18, 17, 16]
    assert [m.seq for m in await store.list_messages(room.id, 5, 16)] == [15, 14, 13, 12, 11]
    assert [m.seq for m in await store.history(room.id, 3)] == [18, 19, 20]
    assert (await store.get_room(room.id)).view().personas[1].avatar_media_id == "m1"  # type: ignore[union-attr]


async def test_invites_admit_until_used_up_or_expired_and_never_a_removed_member_with_an_old_one(
    store: RoomStore,
) -> None:
    room = await a_room(store)
    now = utcnow()
    await invite(store, room, "once", max_uses=1)
    await invite(store, room, "old", expires_at=now - timedelta(seconds=1))
    await invite(store, room, "open")
    joined = await store.join(code_hash("once"), member("ann"), utcnow())
    assert joined.new and joined.room_id == room.id and joined.member.role == "member"
    assert not (await store.join(code_hash("once"), member("ann"), utcnow())).new
    for code, who, problem in (
        ("once", "ben", "used_up"),
        ("old", "ben", "expired"),
        ("nope", "ben", "unknown"),
    ):
        with pytest.raises(InviteRefused) as refused:
            await store.join(code_hash(code), member(who), utcnow())
        assert refused.value.problem == problem
    assert await store.remove_member(room.id, "ann", True, utcnow())
    assert not await store.remove_member(room.id, "ann", True, utcnow())
    with pytest.raises(InviteRefused) as refused:
        await store.join(code_hash("open"), member("ann"), utcnow())
    assert refused.value.problem == "removed"
    await invite(store, room, "fresh")
    assert (await store.join(code_hash("fresh"), member("ann"), utcnow())).new
    # Leaving on one's own is no removal: an old invite still works.
    assert (await store.join(code_hash("open"), member("ben"), utcnow())).new
    await store.remove_member(room.id, "ben", False, utcnow())
    assert (await store.join(code_hash("open"), member("ben"), utcnow())).new
    assert [m.user_id for m in await store.members(room.id)] == ["olive", "ann", "ben"]
    assert (await store.get_room(room.id)).member_count == 3  # type: ignore[union-attr]
    assert [r.id for r in await store.list_rooms("ann", 10)] == [room.id]


async def test_replies_run_one_at_a_time_in_order_and_end_once(store: RoomStore) -> None:
    room = await a_room(store)
    first, second = reply(room, "p2"), reply(room, "p1")
    asked = await store.post(message(room, "ann", "@Otto @Mara hi"), [first, second], 0)
    third = reply(room, "p1")
    await store.post(message(room, "ben", "@Mara again"), [third], 0)
    started = await asyncio.gather(*(store.start_next(room.id) for _ in range(5)))
    assert [r.job_id for r in started if r is not None] == [first.job_id]
    assert [(r.job_id, r.status) for r in await store.replies(room.id)] == [
        (first.job_id, "running"),
        (second.job_id, "queued"),
        (third.job_id, "queued"),
    ]
    text = RoomMessage(
        id=first.message_id,
        room_id=room.id,
        seq=0,
        kind="persona",
        author_id="p2",
        author_name="Otto",
        content="Ahoy",
        created_at=utcnow(),
    )
    done = await store.finish_reply(ReplyEnd(first.job_id, "done", text))
    assert done is not None and done.message is not None and done.message.seq == asked.seq + 2
    assert done.next is not None and done.next.job_id == second.job_id and done.next.status == "running"
    assert await store.finish_reply(ReplyEnd(first.job_id, "done", text)) is None  # a redelivered result
    # A queued reply cancelled before it started ends without text and starts nothing new.
    cancelled = await store.finish_reply(ReplyEnd(third.job_id, "cancelled"))
    assert cancelled is not None and cancelled.message is None and cancelled.next is None
    failed = await store.finish_reply(ReplyEnd(second.job_id, "failed", error="boom"))
    assert failed is not None and failed.next is None and failed.reply.error == "boom"
    assert await store.replies(room.id) == []
    assert (await store.get_reply(third.job_id)).status == "cancelled"  # type: ignore[union-attr]


async def test_reports_hide_a_message_at_the_threshold_and_deleting_a_room_removes_everything(
    store: RoomStore,
) -> None:
    room = await a_room(store)
    m = await store.post(message(room, "ann", "spam"), [], 0)
    assert await store.report_message(room.id, m.id, "ben", "spam", 2, utcnow()) == (True, 1, False)
    assert await store.report_message(room.id, m.id, "ben", "again", 2, utcnow()) == (False, 1, False)
    assert await store.report_message(room.id, m.id, "cat", "spam", 2, utcnow()) == (True, 2, True)
    assert await store.list_messages(room.id, 10, None) == []
    assert await store.get_message(room.id, m.id) is None
    [queued] = await store.reported(10)
    assert (queued.message.id, queued.open_reports, queued.hidden, queued.reasons) == (
        m.id,
        2,
        True,
        ["spam", "spam"],
    )
    restored = await store.review_message(m.id, "restore")
    assert restored is not None and restored.id == m.id
    assert [x.id for x in await store.list_messages(room.id, 10, None)] == [m.id] and await store.reported(
        10
    ) == []
    await store.report_message(room.id, m.id, "ben", "spam", 2, utcnow())
    assert await store.review_message(m.id, "remove") is not None
    assert await store.list_messages(room.id, 10, None) == [] and await store.reported(10) == []
    assert await store.review_message(m.id, "remove") is None
    kept = await store.post(message(room, "ann", "fine"), [reply(room, "p1")], 1)
    assert (await store.get_room(room.id)).turn_index == 1  # type: ignore[union-attr]
    assert await store.delete_message(room.id, kept.id) and not await store.delete_message(room.id, kept.id)
    assert await store.delete_room(room.id)
    assert await store.get_room(room.id) is None and await store.replies(room.id) == []
    assert await store.members(room.id) == []  # its members, messages and replies went with it
    assert await store.list_rooms("olive", 10) == []
