"""Group rooms end to end through the gateway: members, invites, messages, persona replies
streamed to every member, stopping, removal, presence and replay (docs/rooms.md)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from gateway.app import create_app as create_gateway
from tests.support.mesh import Mesh, client, with_health_port
from tests.support.rooms import MARA, OTTO, RoomSite, next_on, room_site
from tests.support.sse import SseEvent, SseStream, open_stream
from tests.support.users import User


@pytest.fixture
async def site(stack: Mesh) -> AsyncIterator[RoomSite]:
    s, http = await room_site(stack)
    async with http:
        yield s


@pytest.fixture
async def slow_site(stack: Mesh) -> AsyncIterator[RoomSite]:
    """Replies of a few seconds (one word every 50 ms): long enough to stop one midway."""
    s, http = await room_site(stack, token_delay=0.05)
    async with http:
        yield s


async def three_in_a_room(site: RoomSite) -> tuple[dict[str, object], str, str, list[User]]:
    owner, ann, ben = await site.user("Olive"), await site.user("Ann"), await site.user("Ben")
    mara, otto = await site.persona(owner, MARA), await site.persona(owner, OTTO)
    room = await site.room(owner, [mara, otto])
    code = await site.invite(owner, str(room["id"]))
    for who in (ann, ben):
        r = await site.join(who, code)
        assert r.status_code == 200, r.text
    return room, mara, otto, [owner, ann, ben]


def stream(
    site: RoomSite, user: User, room_id: str, last_id: int | None = None
) -> contextlib.AbstractAsyncContextManager[SseStream]:
    headers = dict(user.headers)
    if last_id is not None:
        headers["last-event-id"] = str(last_id)
    return open_stream(site.http, params={"channels": f"channel:{room_id}"}, headers=headers)


async def reply(sse: SseStream, channel: str) -> list[SseEvent]:
    """`ai_chat_started`, every chunk, then the ending, as one member saw them on the room."""
    seen = [await next_on(sse, channel, "ai_chat_started")]
    while seen[-1].event not in ("ai_chat_done", "ai_chat_cancelled", "ai_chat_error"):
        seen.append(
            await next_on(sse, channel, "ai_chat_chunk", "ai_chat_done", "ai_chat_cancelled", "ai_chat_error")
        )
    return seen


async def test_every_member_sees_a_message_and_the_reply_it_asked_for_token_by_token(site: RoomSite) -> None:
    room, mara, otto, (owner, ann, ben) = await three_in_a_room(site)
    room_id, channel = str(room["id"]), f"channel:{room['id']}"
    detail = (await site.http.get(f"/rooms/{room_id}", headers=ann.headers)).json()["data"]
    assert [(m["display_name"], m["role"]) for m in detail["members"]] == [
        ("Olive", "owner"),
        ("Ann", "member"),
        ("Ben", "member"),
    ]
    assert [p["name"] for p in detail["room"]["personas"]] == ["Mara Vell", "Otto Brenner"]
    async with (
        stream(site, owner, room_id) as s1,
        stream(site, ann, room_id) as s2,
        stream(site, ben, room_id) as s3,
    ):
        # Presence: the owner's stream ends up listing all three.
        while set((await next_on(s1, channel, "room_presence")).data["user_ids"]) != {
            owner.id,
            ann.id,
            ben.id,
        }:
            pass
        turn = await site.say(ann, room_id, "@mara what was the worst storm you saw?")
        assert turn["message"]["author_name"] == "Ann" and turn["message"]["seq"] == 1
        assert [r["persona_id"] for r in turn["replies"]] == [mara] and turn["job_id"]
        seen = []
        for sse in (s1, s2, s3):
            said = await next_on(sse, channel, "room_message")
            assert said.data["message"]["content"] == "@mara what was the worst storm you saw?"
            assert said.data["message"]["author_id"] == ann.id and said.id is not None
            seen.append(await reply(sse, channel))
    for events in seen:
        started, *chunks, done = events
        assert started.data["persona_id"] == mara and started.data["asked_by"] == ann.id
        assert started.data["job_id"] == turn["job_id"]
        assert len(chunks) > 10 and [c.data["index"] for c in chunks] == list(range(len(chunks)))
        assert done.event == "ai_chat_done" and done.data["persona_id"] == mara
        assert "".join(c.data["delta"] for c in chunks) == done.data["text"] and "Mara" in done.data["text"]
    assert [[e.data for e in events] for events in seen[1:]] == [[e.data for e in seen[0]]] * 2
    # The reply is stored: the history (newest first) ends with it, authored by the persona.
    r = await site.http.get(f"/rooms/{room_id}/messages", headers=ben.headers)
    newest, asked = r.json()["data"]
    assert (
        newest["kind"] == "persona" and newest["author_id"] == mara and newest["author_name"] == "Mara Vell"
    )
    assert newest["content"] == seen[0][-1].data["text"] and newest["asked_by"] == ann.id
    assert asked["id"] == turn["message"]["id"]
    assert otto  # the other persona was not asked


async def test_replies_are_written_one_at_a_time_in_order_and_the_asker_can_stop_one(
    slow_site: RoomSite,
) -> None:
    site = slow_site
    room, mara, otto, (owner, ann, ben) = await three_in_a_room(site)
    room_id, channel = str(room["id"]), f"channel:{room['id']}"
    async with stream(site, ben, room_id) as sse:
        turn = await site.say(ann, room_id, "@Otto and @Mara, tell me about the ferry")
        first, second = turn["replies"]
        assert (first["persona_id"], second["persona_id"]) == (otto, mara)
        started = await next_on(sse, channel, "ai_chat_started")
        assert started.data["job_id"] == first["job_id"]
        await next_on(sse, channel, "ai_chat_chunk")
        # Only the member who asked, or the owner, may stop it.
        r = await site.http.post(f"/rooms/{room_id}/replies/{first['job_id']}/stop", headers=ben.headers)
        assert r.status_code == 403, r.text
        r = await site.http.post(f"/rooms/{room_id}/replies/{first['job_id']}/stop", headers=ann.headers)
        assert r.status_code == 202, r.text
        ended = await next_on(sse, channel, "ai_chat_cancelled", "ai_chat_done")
        assert ended.event == "ai_chat_cancelled" and ended.data["job_id"] == first["job_id"]
        # The next one in the queue starts only then; the owner stops it too.
        started = await next_on(sse, channel, "ai_chat_started")
        assert started.data["job_id"] == second["job_id"] and started.data["persona_id"] == mara
        r = await site.http.post(f"/rooms/{room_id}/replies/{second['job_id']}/stop", headers=owner.headers)
        assert r.status_code == 202, r.text
        assert (await next_on(sse, channel, "ai_chat_cancelled")).data["job_id"] == second["job_id"]
    r = await site.http.post(f"/rooms/{room_id}/replies/{second['job_id']}/stop", headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"]["details"]["job_id"] == second["job_id"]


async def test_a_removed_member_stops_receiving_the_room_at_once_and_cannot_come_back(site: RoomSite) -> None:
    room, mara, _, (owner, ann, ben) = await three_in_a_room(site)
    room_id, channel = str(room["id"]), f"channel:{room['id']}"
    old_code = await site.invite(owner, room_id)
    bens_persona = await site.persona(ben, {**MARA, "name": "Ben's cat"})
    async with stream(site, ann, room_id) as kept, stream(site, ben, room_id) as removed:
        await site.say(owner, room_id, "welcome")
        for sse in (kept, removed):
            assert (await next_on(sse, channel, "room_message")).data["message"]["content"] == "welcome"
        r = await site.http.delete(f"/rooms/{room_id}/members/{ben.id}", headers=owner.headers)
        assert r.status_code == 204, r.text
        dropped = await next_on(removed, channel, "channel_dropped")
        assert dropped.id is None and dropped.data == {"channel": channel, "reason": "removed"}
        await site.say(owner, room_id, "after Ben left")
        assert (await next_on(kept, channel, "room_message")).data["message"]["content"] == "after Ben left"
        # Something for Ben's own channel, published after that message: if the room still
        # reached Ben, the message would arrive before it.
        assert (await site.http.put(f"/personas/{bens_persona}/like", headers=ann.headers)).is_success
        after = [await removed.next()]
        while after[-1].event != "notification":
            after.append(await removed.next())
        assert [e.event for e in after if e.data.get("channel") == channel] == []
        left = next(e for e in after if e.event == "room_member_left")
        assert left.data == {
            "event": "room_member_left",
            "channel": f"user:{ben.id}",
            "room_id": room_id,
            "user_id": ben.id,
            "removed": True,
        }
    assert (await site.http.get(f"/rooms/{room_id}", headers=ben.headers)).status_code == 403
    r = await site.http.get(f"/rooms/{room_id}/messages", headers=ben.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await site.http.get("/events", params={"channels": channel}, headers=ben.headers)
    assert r.status_code == 403 and r.json()["error"]["details"]["channel"] == channel
    r = await site.join(ben, old_code)
    assert r.status_code == 403 and r.json()["error"]["code"] == "removed_from_room"
    # A new invite from the owner lets Ben back in, and the room reaches him again.
    r = await site.join(ben, await site.invite(owner, room_id))
    assert r.status_code == 200, r.text
    async with stream(site, ben, room_id) as back:
        await site.say(ann, room_id, "hi again")
        assert (await next_on(back, channel, "room_message")).data["message"]["content"] == "hi again"
    assert mara


async def test_only_members_may_follow_a_room(site: RoomSite) -> None:
    room, _, _, (owner, _, _) = await three_in_a_room(site)
    outsider = await site.user("Eve")
    channel = f"channel:{room['id']}"
    r = await site.http.get("/events", params={"channels": channel}, headers=outsider.headers)
    assert r.status_code == 403 and r.json()["error"]["details"] == {"field": "channels", "channel": channel}
    assert (await site.http.get(f"/rooms/{room['id']}", headers=outsider.headers)).status_code == 403
    r = await site.http.post(
        f"/rooms/{room['id']}/messages", json={"content": "hi"}, headers=outsider.headers
    )
    assert r.status_code == 403
    async with stream(site, owner, str(room["id"])):
        pass


async def test_a_member_who_reconnects_gets_what_was_missed_and_presence_follows_streams(
    site: RoomSite,
) -> None:
    room, _, _, (owner, ann, ben) = await three_in_a_room(site)
    room_id, channel = str(room["id"]), f"channel:{room['id']}"
    async with stream(site, owner, room_id) as watcher:
        assert (await next_on(watcher, channel, "room_presence")).data["user_ids"] == [owner.id]
        async with stream(site, ann, room_id) as ann_sse:
            present = await next_on(watcher, channel, "room_presence")
            assert sorted(present.data["user_ids"]) == sorted([owner.id, ann.id]) and present.id is None
            await site.say(ben, room_id, "first")
            last = await next_on(ann_sse, channel, "room_message")
            assert last.id is not None
        # Ann's stream closed: she is gone from the room's presence.
        assert (await next_on(watcher, channel, "room_presence")).data["user_ids"] == [owner.id]
        await site.say(ben, room_id, "while you were away")
        r = await site.http.post(f"/rooms/{room_id}/typing", headers=ben.headers)
        assert r.status_code == 204
        typing = await next_on(watcher, channel, "room_typing")
        assert typing.data["user_id"] == ben.id and typing.data["display_name"] == "Ben" and typing.id is None
        await site.say(ben, room_id, "and this")
    async with stream(site, ann, room_id, last_id=last.id) as again:
        missed = [await next_on(again, channel, "room_message") for _ in range(2)]
    assert [e.data["message"]["content"] for e in missed] == ["while you were away", "and this"]
    assert all(e.id is not None and e.id > last.id for e in missed)


async def test_bad_input_is_refused_naming_the_problem(site: RoomSite) -> None:
    owner, other = await site.user("Olive"), await site.user("Ann")
    mara = await site.persona(owner, MARA)
    private = await site.persona(other, {**OTTO, "visibility": "private"})
    cases = [
        ({"title": "x", "persona_ids": []}, "persona_ids"),
        ({"title": "x", "persona_ids": [mara] * 5}, "persona_ids"),
        ({"title": "x", "persona_ids": [mara, mara]}, "persona_ids"),
        ({"title": "x", "persona_ids": ["not-a-uuid"]}, "persona_ids[0]"),
        ({"title": "x", "persona_ids": [mara, private]}, "persona_ids[1]"),
        ({"title": "", "persona_ids": [mara]}, "title"),
        ({"title": "x", "persona_ids": [mara], "turn_policy": "loudest"}, "turn_policy"),
    ]
    for body, field in cases:
        r = await site.http.post("/rooms", json=body, headers=owner.headers)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"]["field"] == field, (body, r.text)
    assert (await site.http.get("/rooms", headers=owner.headers)).json()["data"] == []
    room_id = str((await site.room(owner, [mara]))["id"])
    r = await site.http.post(
        f"/rooms/{room_id}/messages", json={"content": "hi", "persona_id": private}, headers=owner.headers
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "persona_id"
    r = await site.http.post(f"/rooms/{room_id}/invites", json={"expires_in": 5}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "expires_in"
    r = await site.http.post(f"/rooms/{room_id}/invites", json={}, headers=other.headers)
    assert r.status_code == 403
    r = await site.join(other, "no-such-code")
    assert r.status_code == 404 and r.json()["error"]["code"] == "invite_unknown"
    once = await site.invite(owner, room_id, max_uses=1)
    assert (await site.join(other, once)).status_code == 200
    assert (await site.join(other, once)).status_code == 200  # a member already: no use counted
    r = await site.join(await site.user("Late"), once)
    assert r.status_code == 403 and r.json()["error"]["code"] == "invite_used_up"
    r = await site.http.get(f"/rooms/{room_id}/messages", params={"cursor": "zz"}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "cursor"
    r = await site.http.patch(f"/rooms/{room_id}", json={}, headers=owner.headers)
    assert r.status_code == 422
    # The per-member rate limit: the ninth message in a burst is refused, another member's is not.
    for i in range(8):
        await site.say(other, room_id, f"message {i}")
    r = await site.http.post(
        f"/rooms/{room_id}/messages", json={"content": "one more"}, headers=other.headers
    )
    assert r.status_code == 429 and r.json()["error"]["details"]["limit"] == 8 and r.headers["retry-after"]
    await site.say(owner, room_id, "mine still goes")
    # None of the refused messages were stored.
    r = await site.http.get(f"/rooms/{room_id}/messages", params={"limit": 100}, headers=owner.headers)
    assert len(r.json()["data"]) == 9


async def test_presence_and_removal_reach_streams_on_every_gateway(stack: Mesh) -> None:
    site, http = await room_site(stack)
    other = await stack.server(create_gateway(with_health_port(stack.settings)))
    async with http, client(other.url) as far:
        room, _, _, (owner, ann, _) = await three_in_a_room(site)
        room_id, channel = str(room["id"]), f"channel:{room['id']}"
        async with stream(site, owner, room_id) as near_sse:
            assert (await next_on(near_sse, channel, "room_presence")).data["user_ids"] == [owner.id]
            params = {"channels": channel}
            async with open_stream(far, params=params, headers=ann.headers) as far_sse:
                # Each gateway knows its own streams; the list is the union of both.
                both = sorted([owner.id, ann.id])
                assert sorted((await next_on(near_sse, channel, "room_presence")).data["user_ids"]) == both
                assert sorted((await next_on(far_sse, channel, "room_presence")).data["user_ids"]) == both
                r = await site.http.delete(f"/rooms/{room_id}/members/{ann.id}", headers=owner.headers)
                assert r.status_code == 204
                assert (await next_on(far_sse, channel, "channel_dropped")).data["channel"] == channel
                assert (await next_on(near_sse, channel, "room_presence")).data["user_ids"] == [owner.id]
