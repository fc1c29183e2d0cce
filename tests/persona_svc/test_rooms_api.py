"""The owner's controls and the room's rules through the gateway: turn policy, deleting
messages, reports, leaving, renaming and deleting a room (docs/rooms.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest

from proto.chat import chat_job_decoder
from proto.subjects import JOBS_CHAT, RESULTS_ROOM
from tests.support.mesh import Mesh
from tests.support.poll import eventually
from tests.support.rooms import MARA, OTTO, RoomSite, room_site
from tests.support.users import User

ADMIN = "room-moderator@example.com"


@pytest.fixture
async def site(stack: Mesh) -> AsyncIterator[RoomSite]:
    s, http = await room_site(stack, token_delay=0.0, admin_emails=ADMIN)
    async with http:
        yield s


async def crowd(site: RoomSite, policy: str) -> tuple[str, list[str], list[User]]:
    owner, ann, ben, cat = [await site.user(n) for n in ("Olive", "Ann", "Ben", "Cat")]
    personas = [await site.persona(owner, MARA), await site.persona(owner, OTTO)]
    room_id = str((await site.room(owner, personas, turn_policy=policy))["id"])
    code = await site.invite(owner, room_id)
    for who in (ann, ben, cat):
        assert (await site.join(who, code)).status_code == 200
    return room_id, personas, [owner, ann, ben, cat]


async def test_round_robin_answers_in_turn_when_no_one_is_named_and_manual_waits(
    site: RoomSite, stack: Mesh
) -> None:
    room_id, (mara, otto), (owner, ann, _, _) = await crowd(site, "round_robin")
    nc = await nats.connect(stack.settings.nats_url)
    jobs = await nc.subscribe(JOBS_CHAT)
    turns = [await site.say(ann, room_id, f"hello {i}") for i in range(3)]
    assert [t["replies"][0]["persona_id"] for t in turns] == [mara, otto, mara]
    # A room's job: its result goes to the rooms, and its prompt's turns are labelled by speaker.
    job = chat_job_decoder.decode((await jobs.next_msg(timeout=10)).data)
    await nc.close()
    assert (job.results_subject, job.speaker_labels, job.persona_id) == (RESULTS_ROOM, True, mara)
    # Naming someone does not move the turn.
    assert (await site.say(ann, room_id, "@otto you?"))["replies"][0]["persona_id"] == otto
    assert (await site.say(ann, room_id, "and now?"))["replies"][0]["persona_id"] == otto
    r = await site.http.patch(f"/rooms/{room_id}", json={"turn_policy": "manual"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["room"]["turn_policy"] == "manual"
    quiet = await site.say(ann, room_id, "just chatting")
    assert quiet["job_id"] is None and quiet["replies"] == []

    async def all_replied() -> bool:
        r = await site.http.get(f"/rooms/{room_id}/messages", params={"limit": 100}, headers=ann.headers)
        return bool(sum(m["kind"] == "persona" for m in r.json()["data"]) == 5)

    await eventually(all_replied, what="five persona replies stored")
    r = await site.http.get(f"/rooms/{room_id}/messages", params={"limit": 100}, headers=ann.headers)
    seqs = [m["seq"] for m in r.json()["data"]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 11
    page = await site.http.get(f"/rooms/{room_id}/messages", params={"limit": 4}, headers=ann.headers)
    older = await site.http.get(
        f"/rooms/{room_id}/messages",
        params={"limit": 4, "cursor": page.json()["meta"]["next_cursor"]},
        headers=ann.headers,
    )
    assert [m["seq"] for m in page.json()["data"] + older.json()["data"]] == seqs[:8]


async def test_the_owner_deletes_any_message_a_member_only_their_own(site: RoomSite) -> None:
    room_id, _, (owner, ann, ben, _) = await crowd(site, "manual")
    anns = (await site.say(ann, room_id, "from Ann"))["message"]["id"]
    bens = (await site.say(ben, room_id, "from Ben"))["message"]["id"]
    r = await site.http.delete(f"/rooms/{room_id}/messages/{anns}", headers=ben.headers)
    assert r.status_code == 403
    assert (
        await site.http.delete(f"/rooms/{room_id}/messages/{bens}", headers=ben.headers)
    ).status_code == 204
    assert (
        await site.http.delete(f"/rooms/{room_id}/messages/{anns}", headers=owner.headers)
    ).status_code == 204
    r = await site.http.delete(f"/rooms/{room_id}/messages/{anns}", headers=owner.headers)
    assert r.status_code == 404
    assert (await site.http.get(f"/rooms/{room_id}/messages", headers=owner.headers)).json()["data"] == []


async def test_reports_on_a_room_message_hide_it_at_the_threshold(site: RoomSite) -> None:
    room_id, _, (owner, ann, ben, cat) = await crowd(site, "manual")
    spam = (await site.say(ann, room_id, "buy cheap gulls"))["message"]["id"]
    url = f"/rooms/{room_id}/messages/{spam}/report"
    r = await site.http.post(url, json={"reason": "spam"}, headers=ann.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "message_id"
    r = await site.http.post(url, json={"reason": ""}, headers=ben.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "reason"
    r = await site.http.post(url, json={"reason": "spam"}, headers=ben.headers)
    assert r.status_code == 201 and r.json()["data"] == {
        "message_id": spam,
        "open_reports": 1,
        "hidden": False,
    }
    r = await site.http.post(url, json={"reason": "spam"}, headers=ben.headers)
    assert r.status_code == 200 and r.json()["data"]["open_reports"] == 1
    await site.http.post(url, json={"reason": "spam"}, headers=cat.headers)
    r = await site.http.post(url, json={"reason": "spam"}, headers=owner.headers)
    assert r.status_code == 201 and r.json()["data"] == {
        "message_id": spam,
        "open_reports": 3,
        "hidden": True,
    }
    assert (await site.http.get(f"/rooms/{room_id}/messages", headers=ann.headers)).json()["data"] == []
    # The moderation queue: admins only; restoring shows the message again.
    assert (await site.http.get("/rooms/reports", headers=owner.headers)).status_code == 403
    r = await site.http.post("/auth/register", json={"email": ADMIN, "password": "correct horse battery"})
    admin = {"authorization": f"Bearer {r.json()['data']['access_token']}"}
    [entry] = (await site.http.get("/rooms/reports", headers=admin)).json()["data"]
    assert entry["message"]["id"] == spam and entry["open_reports"] == 3 and entry["hidden"] is True
    assert entry["reasons"] == ["spam", "spam", "spam"]
    r = await site.http.post(f"/rooms/reports/{spam}/restore", headers=admin)
    assert r.status_code == 200, r.text
    assert [
        m["id"]
        for m in (await site.http.get(f"/rooms/{room_id}/messages", headers=ann.headers)).json()["data"]
    ] == [spam]
    assert (await site.http.get("/rooms/reports", headers=admin)).json()["data"] == []
    assert (await site.http.post("/rooms/reports/nope/remove", headers=admin)).status_code == 404


async def test_members_leave_the_owner_renames_and_deletes(site: RoomSite) -> None:
    room_id, _, (owner, ann, ben, _) = await crowd(site, "manual")
    r = await site.http.delete(f"/rooms/{room_id}/members/{owner.id}", headers=owner.headers)
    assert r.status_code == 409
    r = await site.http.delete(f"/rooms/{room_id}/members/{ann.id}", headers=ben.headers)
    assert r.status_code == 403
    assert (
        await site.http.delete(f"/rooms/{room_id}/members/{ann.id}", headers=ann.headers)
    ).status_code == 204
    assert (await site.http.get("/rooms", headers=ann.headers)).json()["data"] == []
    r = await site.http.patch(f"/rooms/{room_id}", json={"title": "Renamed"}, headers=ben.headers)
    assert r.status_code == 403
    r = await site.http.patch(f"/rooms/{room_id}", json={"title": "Renamed"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["room"]["title"] == "Renamed"
    listed = (await site.http.get("/rooms", headers=ben.headers)).json()["data"]
    assert [(x["title"], x["member_count"]) for x in listed] == [("Renamed", 3)]
    assert (await site.http.delete(f"/rooms/{room_id}", headers=ben.headers)).status_code == 403
    assert (await site.http.delete(f"/rooms/{room_id}", headers=owner.headers)).status_code == 204
    assert (await site.http.get(f"/rooms/{room_id}", headers=owner.headers)).status_code == 404
