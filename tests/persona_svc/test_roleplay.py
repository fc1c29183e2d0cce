"""Role-play through the gateway: who the user plays (their user persona, and a chat's own) in
the greeting and in the prompt the worker receives, renaming and finding a persona's chats,
and deleting a user's message with the reply that answered it. Bad input is a 422 naming the field."""

from __future__ import annotations

from typing import Any

from proto.chat import ChatJob, chat_job_decoder
from proto.subjects import JOBS_CHAT, STREAM_JOBS
from tests.persona_svc.conftest import Site, SiteFactory
from tests.persona_svc.helpers import (
    create,
    error_field,
    jetstream,
    messages,
    send,
    start_chat,
    wait_reply,
)
from tests.support.users import User


async def last_job(site: Site) -> ChatJob:
    """The newest chat job on JetStream (no worker runs in this site, so it waits there)."""
    async with jetstream(site) as js:
        raw = await js.get_last_msg(STREAM_JOBS, JOBS_CHAT)
    return chat_job_decoder.decode(raw.data or b"")


def prompt_text(job: ChatJob) -> str:
    return "\n".join(m.content for m in job.messages)


async def refused(site: Site, user: User, method: str, path: str, body: Any = None) -> str:
    """The field a 422 names (the request changed nothing)."""
    r = await site.http.request(method, path, json=body, headers=user.headers)
    assert r.status_code == 422, r.text
    return error_field(r)


async def test_the_user_persona_is_in_the_greeting_and_the_prompt_and_a_chat_can_override_it(
    start_site: SiteFactory,
) -> None:
    site = await start_site(worker=False)
    sam = await site.user("Sam")
    me = "/users/me/persona"
    r = await site.http.get(me, headers=sam.headers)
    assert r.status_code == 200 and r.json()["data"] is None

    assert await refused(site, sam, "PUT", me, {}) == "name"
    assert await refused(site, sam, "PUT", me, {"name": ""}) == "name"
    assert await refused(site, sam, "PUT", me, {"name": "   "}) == "name"
    assert await refused(site, sam, "PUT", me, {"name": "x" * 81}) == "name"
    assert await refused(site, sam, "PUT", me, {"name": 7}) == "name"
    assert await refused(site, sam, "PUT", me, {"name": "Wren", "description": "x" * 4001}) == "description"
    assert await refused(site, sam, "PUT", me, {"name": "Wren", "age": 30}) == "age"
    assert (await site.http.get(me, headers=sam.headers)).json()["data"] is None

    wren = {"name": "Wren", "description": "{{user}} is a sailor with a scar across one cheek."}
    r = await site.http.put(me, json=wren, headers=sam.headers)
    assert r.status_code == 200 and r.json()["data"] == wren
    assert (await site.http.get(me, headers=sam.headers)).json()["data"] == wren

    persona = await create(site.http, sam)
    started = await start_chat(site, sam, persona["id"])
    assert started["messages"][0]["content"] == "*Mara squints at Wren.* Shut the door, the wind bites."
    first = started["conversation"]
    assert first["user_persona"] is None
    await send(site, sam, first["id"], "Is the lamp lit?")
    job = await last_job(site)
    assert job.user_name == "Wren"
    assert "About Wren: Wren is a sailor with a scar across one cheek." in prompt_text(job)
    assert "Wren shelters from a storm in the lighthouse." in prompt_text(job)

    # A chat of its own: another name and description, for this conversation only.
    second = (await start_chat(site, sam, persona["id"]))["conversation"]
    path = f"/conversations/{second['id']}"
    ash = {"name": "Captain Ash", "description": "The harbour master, soaked to the bone."}
    assert (
        await refused(site, sam, "PATCH", path, {"user_persona": {"description": "x"}}) == "user_persona.name"
    )
    assert await refused(site, sam, "PATCH", path, {"user_persona": {"name": " "}}) == "user_persona.name"
    assert await refused(site, sam, "PATCH", path, {"user_persona": "Ash"}) == "user_persona"
    assert (
        await refused(site, sam, "PATCH", path, {"user_persona": {"name": "A", "x": 1}}) == "user_persona.x"
    )
    r = await site.http.patch(path, json={"user_persona": ash}, headers=sam.headers)
    assert r.status_code == 200 and r.json()["data"]["user_persona"] == ash
    # The greeting, as yet untouched, now greets Captain Ash (both of its swipes).
    greeting = (await messages(site, sam, second["id"]))[0]
    assert greeting["content"] == "*Mara squints at Captain Ash.* Shut the door, the wind bites."
    assert (
        greeting["swipes"][1] == "*Mara pours tea.* Storm's coming, Captain Ash."
        and greeting["swipe_index"] == 0
    )
    await send(site, sam, second["id"], "Any ships tonight?")
    job = await last_job(site)
    text = prompt_text(job)
    assert job.user_name == "Captain Ash" and job.conversation_id == second["id"]
    assert "About Captain Ash: The harbour master, soaked to the bone." in text
    assert "Captain Ash shelters from a storm" in text and "Wren" not in text

    # Someone else cannot touch it; null goes back to the account's persona.
    other = await site.user("Eve")
    r = await site.http.patch(path, json={"user_persona": None}, headers=other.headers)
    assert r.status_code == 404 and set(r.json()) == {"error", "meta"}
    r = await site.http.patch(path, json={"user_persona": None}, headers=sam.headers)
    assert r.status_code == 200 and r.json()["data"]["user_persona"] is None

    # Forgetting the account's persona: the display name again.
    assert (await site.http.delete(me, headers=sam.headers)).status_code == 204
    assert (await site.http.get(me, headers=sam.headers)).json()["data"] is None
    third = await start_chat(site, sam, persona["id"])
    assert third["messages"][0]["content"].startswith("*Mara squints at Sam.*")


async def test_rename_find_a_personas_chats_and_delete_a_message_with_its_reply(site: Site) -> None:
    sam = await site.user("Sam")
    persona = await create(site.http, sam)
    other_persona = await create(site.http, sam, name="Bo")
    older = (await start_chat(site, sam, persona["id"]))["conversation"]
    await start_chat(site, sam, other_persona["id"])
    started = await start_chat(site, sam, persona["id"])
    conversation, greeting = started["conversation"], started["messages"][0]
    cid = conversation["id"]
    path = f"/conversations/{cid}"
    assert conversation["title"] is None

    # "Chat" resumes the latest conversation with a persona: the first of its listing.
    r = await site.http.get(
        "/conversations", params={"persona_id": persona["id"], "limit": 1}, headers=sam.headers
    )
    assert r.status_code == 200 and [c["id"] for c in r.json()["data"]] == [cid]
    assert r.json()["meta"]["next_cursor"]
    r = await site.http.get("/conversations", params={"persona_id": persona["id"]}, headers=sam.headers)
    assert [c["id"] for c in r.json()["data"]] == [cid, older["id"]]
    r = await site.http.get("/conversations", params={"persona_id": "nope"}, headers=sam.headers)
    assert r.status_code == 422 and error_field(r) == "query.persona_id"

    # Rename.
    assert await refused(site, sam, "PATCH", path, {"title": ""}) == "title"
    assert await refused(site, sam, "PATCH", path, {"title": "   "}) == "title"
    assert await refused(site, sam, "PATCH", path, {"title": "x" * 101}) == "title"
    assert await refused(site, sam, "PATCH", path, {"title": 5}) == "title"
    assert await refused(site, sam, "PATCH", path, {"name": "Storm night"}) == "name"
    r = await site.http.patch(path, json={"title": "  Storm night "}, headers=sam.headers)
    assert r.status_code == 200 and r.json()["data"]["title"] == "Storm night"
    assert (await site.http.get(path, headers=sam.headers)).json()["data"]["title"] == "Storm night"
    listed = (await site.http.get("/conversations", headers=sam.headers)).json()["data"]
    assert listed[0]["id"] == cid and listed[0]["title"] == "Storm night"
    other = await site.user("Eve")
    r = await site.http.patch(path, json={"title": "Mine now"}, headers=other.headers)
    assert r.status_code == 404
    r = await site.http.patch(path, json={"title": None}, headers=sam.headers)
    assert r.status_code == 200 and r.json()["data"]["title"] is None

    # Two turns; the first question goes with its answer.
    first = await send(site, sam, cid, "Who lit the lamp?")
    await wait_reply(site, sam, cid, first["reply_message_id"])
    second = await send(site, sam, cid, "Where are the gulls?")
    await wait_reply(site, sam, cid, second["reply_message_id"])
    message = f"{path}/messages/{first['message_id']}"
    r = await site.http.delete(message, params={"with_reply": "maybe"}, headers=sam.headers)
    assert r.status_code == 422 and error_field(r) == "query.with_reply"
    r = await site.http.delete(message, params={"with_reply": "true"}, headers=sam.headers)
    assert r.status_code == 204, r.text
    left = [m["id"] for m in reversed(await messages(site, sam, cid))]
    assert left == [greeting["id"], second["message_id"], second["reply_message_id"]]
    r = await site.http.delete(message, params={"with_reply": "true"}, headers=sam.headers)
    assert r.status_code == 404 and set(r.json()) == {"error", "meta"}
    # A reply deleted "with its reply" goes alone; so does a message without the flag.
    r = await site.http.delete(
        f"{path}/messages/{greeting['id']}", params={"with_reply": "true"}, headers=sam.headers
    )
    assert r.status_code == 204
    r = await site.http.delete(f"{path}/messages/{second['message_id']}", headers=sam.headers)
    assert r.status_code == 204
    assert [m["id"] for m in await messages(site, sam, cid)] == [second["reply_message_id"]]

    # Delete the conversation; it is gone from the persona's chats.
    assert (await site.http.delete(path, headers=sam.headers)).status_code == 204
    r = await site.http.get("/conversations", params={"persona_id": persona["id"]}, headers=sam.headers)
    assert [c["id"] for c in r.json()["data"]] == [older["id"]]
