"""The store contract, run against the in-memory store and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from chassis.clock import utcnow
from persona_svc.pagination import NewKey, SeqKey, TopKey, TrendKey
from persona_svc.store import (
    BadSwipe,
    Busy,
    Generation,
    ListFilter,
    MessageBusy,
    NotRegenerable,
    Store,
    Trending,
    Typed,
    summary,
)
from proto.conversations import Conversation, Message, UserPersona
from proto.personas import ContentSettings, DraftResult, Persona, PersonaDraft, PersonaSummary, Report


def new_id() -> str:
    return str(uuid.uuid4())


def persona(owner: str, **fields: Any) -> Persona:
    now = utcnow()
    base: dict[str, Any] = {
        "id": new_id(),
        "owner_id": owner,
        "name": "Ada",
        "description": "A patient tutor.",
        "greeting": "Hello {{user}}!",
        "visibility": "public",
        "created_at": now,
        "updated_at": now,
    }
    base.update(fields)
    return Persona(**base)


async def all_pages(store: Store, f: ListFilter, sort: str, limit: int = 7) -> list[str]:
    seen: list[str] = []
    after: Any = None
    trending = Trending(utcnow(), utcnow() - timedelta(days=7), 3600.0)
    while True:
        if sort == "new":
            rows: list[tuple[PersonaSummary, Any]] = list(await store.list_new(f, limit, after))
        elif sort == "top":
            rows = list(await store.list_top(f, limit, after))
        else:
            rows = list(await store.list_trending(f, limit, trending, after))
        seen += [p.id for p, _ in rows]
        if len(rows) < limit:
            return seen
        after = rows[-1][1]


async def test_listings_answer_summaries_without_the_long_texts(store: Store) -> None:
    book = {"entries": [{"keys": ["moon"], "content": "x" * 10_000}]}
    p = await store.create_persona(
        persona("u1", tagline="Tutor", tags=["Maths"], description="long " * 1000, character_book=book)
    )
    await store.set_like(p.id, "u2", True)
    expected = await store.get_persona(p.id, "u2")
    assert expected is not None
    trending = Trending(utcnow(), utcnow() - timedelta(days=7), 3600.0)
    for rows in (
        await store.list_new(ListFilter(viewer_id="u2"), 10, None),
        await store.list_top(ListFilter(viewer_id="u2"), 10, None),
        await store.list_trending(ListFilter(viewer_id="u2"), 10, trending, None),
    ):
        assert [r for r, _ in rows] == [summary(expected)]
        assert rows[0][0].liked_by_me and rows[0][0].like_count == 1


async def test_create_get_update_delete(store: Store) -> None:
    p = await store.create_persona(persona("u1", tags=["Sci-Fi", "robots"], character_book={"entries": []}))
    got = await store.get_persona(p.id, "u2")
    assert got is not None and got.name == "Ada" and got.tags == ["Sci-Fi", "robots"]
    assert got.character_book == {"entries": []} and got.liked_by_me is False
    updated = await store.update_persona(p.id, {"name": "Ada II", "extensions": {"x": {"y": [1]}}})
    assert updated is not None and updated.name == "Ada II" and updated.updated_at >= p.updated_at
    got = await store.get_persona(p.id)
    assert got is not None and got.name == "Ada II" and got.extensions == {"x": {"y": [1]}}
    assert await store.delete_persona(p.id) is True
    assert await store.get_persona(p.id) is None
    assert await store.delete_persona(p.id) is False
    assert await store.update_persona(p.id, {"name": "x"}) is None
    assert await store.get_persona("not-a-uuid") is None


async def test_create_if_absent_creates_one_row_per_id_and_never_revives_a_deleted_one(store: Store) -> None:
    first = persona("u1", name="Starter")
    racing = [msgspec.structs.replace(first, name=f"Starter {i}") for i in range(5)]
    created = await asyncio.gather(*(store.create_persona_if_absent(p) for p in racing))
    assert sorted(created) == [False] * 4 + [True]
    got = await store.get_persona(first.id)
    assert got is not None and got.name in {p.name for p in racing}
    other = new_id()
    assert await store.existing_persona_ids([first.id, other, "not-a-uuid"]) == {first.id}
    assert await store.delete_persona(first.id) is True
    assert await store.existing_persona_ids([first.id]) == {first.id}
    assert await store.create_persona_if_absent(first) is False
    assert await store.get_persona(first.id) is None


async def test_listing_shows_public_listed_personas_only(store: Store) -> None:
    public = await store.create_persona(persona("u1"))
    await store.create_persona(persona("u1", visibility="private"))
    await store.create_persona(persona("u1", visibility="unlisted"))
    nsfw = await store.create_persona(persona("u1", nsfw=True))
    gone = await store.create_persona(persona("u1"))
    await store.delete_persona(gone.id)
    rows = await store.list_new(ListFilter(), 50, None)
    assert [p.id for p, _ in rows] == [public.id]
    rows = await store.list_new(ListFilter(include_nsfw=True), 50, None)
    assert {p.id for p, _ in rows} == {public.id, nsfw.id}
    own = await store.list_new(ListFilter(creator_id="u1", own=True, viewer_id="u1"), 50, None)
    assert len(own) == 4
    assert await store.list_new(ListFilter(creator_id="u2"), 50, None) == []
    # Creators always see their own NSFW personas in the community listings; others do not.
    mine = await store.list_top(ListFilter(viewer_id="u1"), 50, None)
    assert {p.id for p, _ in mine} == {public.id, nsfw.id}
    theirs = await store.list_top(ListFilter(viewer_id="u2"), 50, None)
    assert {p.id for p, _ in theirs} == {public.id}


async def test_content_settings_default_off_and_are_kept_per_account(store: Store) -> None:
    assert await store.get_content_settings("u1") == ContentSettings()
    on = ContentSettings(show_nsfw=True, adult_confirmed_at=utcnow())
    await store.set_content_settings("u1", on)
    await store.set_content_settings("u1", on)
    assert await store.get_content_settings("u1") == on
    assert await store.get_content_settings("u2") == ContentSettings()
    off = ContentSettings(show_nsfw=False, adult_confirmed_at=on.adult_confirmed_at)
    await store.set_content_settings("u1", off)
    assert await store.get_content_settings("u1") == off


async def test_keyset_pages_have_no_duplicates_or_gaps_under_inserts(store: Store) -> None:
    ids = [(await store.create_persona(persona(f"u{i % 3}"))).id for i in range(30)]
    seen: list[str] = []
    after: NewKey | None = None
    while True:
        rows = await store.list_new(ListFilter(), 7, after)
        seen += [p.id for p, _ in rows]
        # Someone publishes between the pages: it is newer than every cursor, so never shows up.
        await store.create_persona(persona("u9"))
        if len(rows) < 7:
            break
        after = rows[-1][1]
    assert seen == list(reversed(ids))


async def test_search_and_tag_filters_are_case_insensitive(store: Store) -> None:
    a = await store.create_persona(persona("u1", name="Lighthouse Keeper", tags=["Maritime"]))
    b = await store.create_persona(persona("u1", name="Bob", tagline="keeps a LIGHTHOUSE diary"))
    c = await store.create_persona(persona("u1", name="Cleo", tags=["storms", "lighthouses"]))
    await store.create_persona(persona("u1", name="Dan", description="lighthouse in description only"))
    await store.create_persona(persona("u1", name="100%_literal"))
    found = {p.id for p, _ in await store.list_new(ListFilter(q="lightHOUSE"), 50, None)}
    assert found == {a.id, b.id, c.id}
    assert [p.id for p, _ in await store.list_new(ListFilter(tag="maritime"), 50, None)] == [a.id]
    # LIKE wildcards in q are literal characters.
    assert [p.name for p, _ in await store.list_new(ListFilter(q="0%_"), 50, None)] == ["100%_literal"]
    assert await store.list_new(ListFilter(q="%"), 50, None) != []
    assert await store.list_new(ListFilter(q="_x"), 50, None) == []


async def test_likes_are_idempotent_and_exact_under_concurrency(store: Store) -> None:
    p = await store.create_persona(persona("owner"))
    assert await store.set_like(p.id, "fan", True) == (True, 1)
    assert await store.set_like(p.id, "fan", True) == (False, 1)
    got = await store.get_persona(p.id, "fan")
    assert got is not None and got.liked_by_me and got.like_count == 1
    assert await store.set_like(p.id, "fan", False) == (True, 0)
    assert await store.set_like(p.id, "fan", False) == (False, 0)
    results = await asyncio.gather(*(store.set_like(p.id, f"user{i}", True) for i in range(50)))
    assert all(changed for changed, _ in results)
    # and liking again, concurrently, changes nothing
    again = await asyncio.gather(*(store.set_like(p.id, f"user{i}", True) for i in range(50)))
    assert not any(changed for changed, _ in again)
    got = await store.get_persona(p.id)
    assert got is not None and got.like_count == 50


async def test_top_and_trending_orderings_page_without_duplicates(store: Store) -> None:
    personas = [await store.create_persona(persona("u1")) for _ in range(12)]
    for i, p in enumerate(personas):
        for j in range(i % 4):
            await store.set_like(p.id, f"fan{j}", True)
    top = await all_pages(store, ListFilter(), "top", limit=5)
    assert sorted(top) == sorted(p.id for p in personas)
    likes = {p.id: i % 4 for i, p in enumerate(personas)}
    assert [likes[i] for i in top] == sorted(likes.values(), reverse=True)
    trending = await all_pages(store, ListFilter(), "trending", limit=5)
    assert sorted(trending) == sorted(p.id for p in personas)
    assert [likes[i] for i in trending] == sorted(likes.values(), reverse=True)


async def test_trending_weighs_recent_likes_and_chats(store: Store) -> None:
    liked = await store.create_persona(persona("u1"))
    chatted = await store.create_persona(persona("u1"))
    quiet = await store.create_persona(persona("u1"))
    await store.set_like(liked.id, "a", True)
    await store.create_conversation(*conversation("a", chatted))
    trending = Trending(utcnow(), utcnow() - timedelta(days=7), 3600.0)
    rows = await store.list_trending(ListFilter(), 10, trending, None)
    assert [p.id for p, _ in rows] == [chatted.id, liked.id, quiet.id]
    assert rows[0][1].score > rows[1][1].score > rows[2][1].score == 0
    # Scores are frozen at as_of: a persona created afterwards is not part of this listing.
    await store.create_persona(persona("u1"))
    again = await store.list_trending(ListFilter(), 10, trending, None)
    assert [p.id for p, _ in again] == [p.id for p, _ in rows]
    assert [k.score for _, k in again] == [k.score for _, k in rows]
    after: TrendKey = rows[0][1]
    rest = await store.list_trending(ListFilter(), 10, trending, after)
    assert [p.id for p, _ in rest] == [liked.id, quiet.id]


async def test_follows_feed_and_profile_counts(store: Store) -> None:
    assert await store.set_follow("fan", "maker", True) == (True, 1)
    assert await store.set_follow("fan", "maker", True) == (False, 1)
    await store.set_follow("other", "maker", True)
    mine = await store.create_persona(persona("maker"))
    await store.create_persona(persona("maker", visibility="private"))
    await store.create_persona(persona("stranger"))
    feed = await store.list_new(ListFilter(followed_by="fan", viewer_id="fan"), 10, None)
    assert [p.id for p, _ in feed] == [mine.id]
    counts = await store.user_counts("maker", "fan")
    assert (counts.public_personas, counts.followers, counts.following) == (1, 2, 0)
    assert counts.followed_by_me
    assert (await store.user_counts("fan", None)).following == 1
    # An NSFW persona counts for whom it is listed: opted-in viewers and its creator.
    await store.create_persona(persona("maker", nsfw=True))
    assert (await store.user_counts("maker", "fan")).public_personas == 1
    assert (await store.user_counts("maker", "fan", include_nsfw=True)).public_personas == 2
    assert (await store.user_counts("maker", "maker")).public_personas == 2
    assert await store.set_follow("fan", "maker", False) == (True, 1)
    assert await store.list_new(ListFilter(followed_by="fan"), 10, None) == []


async def test_reports_from_distinct_users_hide_until_reviewed(store: Store) -> None:
    p = await store.create_persona(persona("maker"))

    def report(user: str) -> Report:
        return Report(id=new_id(), persona_id=p.id, reporter_id=user, reason="spam", created_at=utcnow())

    created, state = await store.add_report(report("r1"), 3)
    assert created and state.open_reports == 1 and state.moderation == "visible"
    created, state = await store.add_report(report("r1"), 3)
    assert not created and state.open_reports == 1
    results = await asyncio.gather(store.add_report(report("r2"), 3), store.add_report(report("r3"), 3))
    assert max(s.open_reports for _, s in results) == 3
    got = await store.get_persona(p.id)
    assert got is not None and got.moderation == "hidden"
    assert await store.list_new(ListFilter(), 10, None) == []
    queue = await store.moderation_queue(True, 10, None)
    assert [(r.persona.id, r.open_reports, len(r.reports)) for r, _ in queue] == [(p.id, 3, 3)]
    restored = await store.review(p.id, "restore")
    assert restored is not None and restored.moderation == "visible"
    assert await store.moderation_queue(False, 10, None) == []
    assert [x.id for x, _ in await store.list_new(ListFilter(), 10, None)] == [p.id]
    # A report after the review opens a new round.
    created, state = await store.add_report(report("r1"), 3)
    assert created and state.open_reports == 1 and state.moderation == "visible"
    removed = await store.review(p.id, "remove")
    assert removed is not None and removed.moderation == "removed"
    assert await store.get_persona(p.id) is None


async def test_drafts_finish_once(store: Store) -> None:
    job = new_id()
    await store.create_draft(job, "u1", "a lighthouse keeper")
    found = await store.get_draft(job)
    assert found is not None and found[0] == "u1" and found[1].status == "pending"
    draft = PersonaDraft(
        name="Maren",
        tagline="keeper",
        description="d",
        personality="p",
        scenario="s",
        greeting="g",
        alternate_greetings=["a", "b"],
        example_dialogues="e",
        tags=["sea"],
    )
    assert await store.finish_draft(DraftResult(job_id=job, user_id="u1", status="done", draft=draft)) is True
    late = DraftResult(job_id=job, user_id="u1", status="failed", error="x")
    assert await store.finish_draft(late) is False
    found = await store.get_draft(job)
    assert found is not None and found[1].status == "done" and found[1].draft == draft
    assert await store.get_draft(new_id()) is None


def conversation(user: str, p: Persona) -> tuple[Conversation, Message]:
    now = utcnow()
    c = Conversation(
        id=new_id(), user_id=user, persona_id=p.id, persona_name=p.name, created_at=now, last_activity_at=now
    )
    greeting = Message(
        id=new_id(),
        conversation_id=c.id,
        seq=1,
        role="assistant",
        content="Hello!",
        swipes=["Hello!", "Hi!"],
        created_at=now,
        updated_at=now,
    )
    return c, greeting


def generation(c: Conversation, message_id: str | None = None) -> Generation:
    return Generation(
        job_id=new_id(),
        conversation_id=c.id,
        message_id=message_id or new_id(),
        user_id=c.user_id,
        swipe_index=0,
        created_at=utcnow(),
    )


async def test_chat_turns_results_and_swipes(store: Store) -> None:
    p = await store.create_persona(persona("maker"))
    c, greeting = conversation("u1", p)
    await store.create_conversation(c, greeting)
    got_p = await store.get_persona(p.id)
    assert got_p is not None and got_p.chat_count == 1
    g = generation(c)
    user, reply = await store.start_reply(c.id, g, Typed(new_id(), "How are you?"))
    assert user is not None and (user.seq, reply.seq, reply.status) == (2, 3, "pending")
    with pytest.raises(Busy):
        await store.start_reply(c.id, generation(c), Typed(new_id(), "again?"))
    with pytest.raises(MessageBusy):
        await store.edit_message(c.id, reply.id, "x", None)
    conv = await store.get_conversation(c.id)
    assert conv is not None and conv.pending_job_id == g.job_id and conv.message_count == 3
    done = await store.finish_generation(g.job_id, "done", "Fine, thanks.", None)
    assert done is not None and done.content == "Fine, thanks." and done.status == "done"
    # The same result again changes nothing.
    assert await store.finish_generation(g.job_id, "done", "Fine, thanks.", None) is None
    conv = await store.get_conversation(c.id)
    assert conv is not None and conv.pending_job_id is None and conv.last_message == "Fine, thanks."
    # Regenerate keeps the first answer as a swipe.
    g2 = generation(c, reply.id)
    again = await store.start_regenerate(c.id, g2)
    assert again.swipes == ["Fine, thanks.", ""] and again.swipe_index == 1 and again.status == "pending"
    done = await store.finish_generation(g2.job_id, "cancelled", "Well", None)
    assert done is not None and done.swipes == ["Fine, thanks.", "Well"] and done.status == "cancelled"
    picked = await store.edit_message(c.id, reply.id, None, 0)
    assert picked is not None and picked.content == "Fine, thanks." and picked.status == "done"
    with pytest.raises(BadSwipe):
        await store.edit_message(c.id, reply.id, None, 5)
    # A failed generation leaves an empty swipe that the next regeneration reuses.
    g3 = generation(c, reply.id)
    await store.start_regenerate(c.id, g3)
    failed = await store.finish_generation(g3.job_id, "failed", "", "provider refused")
    assert failed is not None and failed.swipes == ["Fine, thanks.", "Well", ""] and failed.error
    g4 = generation(c, reply.id)
    reused = await store.start_regenerate(c.id, g4)
    assert reused.swipe_index == 2 and len(reused.swipes) == 3
    await store.finish_generation(g4.job_id, "done", "Great!", None)
    with pytest.raises(NotRegenerable):
        await store.start_regenerate(c.id, generation(c, user.id))
    page = await store.list_messages(c.id, 2, None)
    assert [m.seq for m, _ in page] == [3, 2]
    rest = await store.list_messages(c.id, 2, SeqKey(2))
    assert [m.seq for m, _ in rest] == [1]
    history = await store.history(c.id, 10, before_seq=3)
    assert [m.seq for m in history] == [1, 2]
    edited = await store.edit_message(c.id, user.id, "How are you today?", None)
    assert edited is not None and edited.content == "How are you today?"
    assert await store.delete_message(c.id, user.id) is True
    assert [m.seq for m in await store.history(c.id, 10)] == [1, 3]
    assert await store.delete_conversation(c.id) is True
    assert await store.get_conversation(c.id) is None


async def test_conversations_list_newest_activity_first(store: Store) -> None:
    p = await store.create_persona(persona("maker"))
    made = []
    for _ in range(5):
        c, greeting = conversation("u1", p)
        await store.create_conversation(c, greeting)
        made.append(c.id)
    other, greeting = conversation("u2", p)
    await store.create_conversation(other, greeting)
    g = generation(msgspec.structs.replace(await store.get_conversation(made[0]) or other))
    await store.start_reply(made[0], g, None)
    rows = await store.list_conversations("u1", 3, None)
    assert [c.id for c, _ in rows] == [made[0], made[4], made[3]]
    rest = await store.list_conversations("u1", 3, rows[-1][1])
    assert [c.id for c, _ in rest] == [made[2], made[1]]


async def test_titles_user_personas_and_deleting_a_message_with_its_reply(store: Store) -> None:
    p = await store.create_persona(persona("maker"))
    other = await store.create_persona(persona("maker", name="Bo"))
    c, greeting = conversation("u1", p)
    await store.create_conversation(c, greeting)
    elsewhere, hello = conversation("u1", other)
    await store.create_conversation(elsewhere, hello)
    assert [x.id for x, _ in await store.list_conversations("u1", 10, None, p.id)] == [c.id]
    assert await store.list_conversations("u1", 10, None, new_id()) == []

    # Title and this chat's user persona: set, left alone (UNSET), cleared (None).
    sailor = UserPersona(name="Wren", description="A sailor with a scar.")
    assert await store.update_conversation(c.id, "Storm night", sailor) is True
    got = await store.get_conversation(c.id)
    assert got is not None and got.title == "Storm night" and got.user_persona == sailor
    await store.update_conversation(c.id, msgspec.UNSET, None)
    got = (await store.list_conversations("u1", 10, None, p.id))[0][0]
    assert got.title == "Storm night" and got.user_persona is None
    await store.update_conversation(c.id, None, msgspec.UNSET)
    got = await store.get_conversation(c.id)
    assert got is not None and got.title is None
    assert await store.update_conversation(new_id(), "x", msgspec.UNSET) is False

    # The account's user persona.
    assert await store.get_user_persona("u1") is None
    await store.set_user_persona("u1", sailor)
    await store.set_user_persona("u1", UserPersona(name="Wren Hale"))
    assert await store.get_user_persona("u1") == UserPersona(name="Wren Hale", description="")
    assert await store.get_user_persona("u2") is None
    await store.set_user_persona("u1", None)
    assert await store.get_user_persona("u1") is None

    # A user's message goes with the reply that answered it; a reply alone, or the greeting, alone.
    g = generation(c)
    asked, answer = await store.start_reply(c.id, g, Typed(new_id(), "First?"))
    assert asked is not None
    with pytest.raises(MessageBusy):
        await store.delete_message(c.id, asked.id, with_reply=True)
    await store.finish_generation(g.job_id, "done", "Yes.", None)
    g2 = generation(c)
    second, _ = await store.start_reply(c.id, g2, Typed(new_id(), "Second?"))
    await store.finish_generation(g2.job_id, "done", "Also yes.", None)
    assert second is not None
    assert await store.delete_message(c.id, asked.id, with_reply=True) is True
    assert [m.content for m in await store.history(c.id, 10)] == ["Hello!", "Second?", "Also yes."]
    assert await store.delete_message(c.id, greeting.id, with_reply=True) is True
    assert [m.content for m in await store.history(c.id, 10)] == ["Second?", "Also yes."]
    assert await store.delete_message(c.id, second.id) is True
    assert [m.content for m in await store.history(c.id, 10)] == ["Also yes."]


async def test_top_cursor_keys(store: Store) -> None:
    a = await store.create_persona(persona("u1"))
    b = await store.create_persona(persona("u1"))
    await store.set_like(a.id, "x", True)
    rows = await store.list_top(ListFilter(), 1, None)
    assert rows[0][1] == TopKey(1, a.id)
    assert [p.id for p, _ in await store.list_top(ListFilter(), 5, rows[0][1])] == [b.id]
