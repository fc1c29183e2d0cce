"""Issue 13 through the gateway: the lorebook edited on the form, forks crediting the original
(and notifying its creator), and the adult-content setting that filters listings server-side."""

from __future__ import annotations

from typing import Any

from tests.persona_svc.conftest import Site
from tests.persona_svc.helpers import (
    create,
    error_field,
    user_events,
)

BOOK: dict[str, Any] = {
    "name": "Saltmarsh lore",
    "scan_depth": 3,
    "extensions": {"chub": {"keep": True}},
    "x_future_field": [1, 2, 3],
    "entries": [
        {
            "keys": ["lighthouse", "lamp"],
            "content": "The lamp has not gone dark in forty years.",
            "extensions": {"depth": 4},
            "enabled": True,
            "insertion_order": 10,
            "id": 1,
            "x_entry_field": "kept",
        },
        {
            "keys": ["gulls"],
            "content": "{{char}} thinks gulls carry the souls of drowned sailors.",
            "extensions": {},
            "enabled": False,
            "insertion_order": 20,
            "id": 2,
        },
    ],
}


async def test_a_lorebook_edited_on_the_form_round_trips(site: Site) -> None:
    http = site.http
    owner = await site.user("keeper")
    persona = await create(http, owner, character_book=BOOK)
    assert persona["character_book"] == BOOK
    pid = persona["id"]

    # The form sends the whole book back: the first entry edited, the second removed, one added.
    # What it did not touch (book fields, unknown keys, the entry's extensions) stays as it was.
    edited = {
        **BOOK,
        "entries": [
            {
                **BOOK["entries"][0],
                "keys": ["lighthouse", "lamp", "beacon"],
                "enabled": False,
                "insertion_order": 5,
            },
            {
                "keys": ["storm"],
                "content": "Storms come from the north.",
                "extensions": {},
                "enabled": True,
                "insertion_order": 30,
                "id": 3,
            },
        ],
    }
    r = await http.patch(f"/personas/{pid}", json={"character_book": edited}, headers=owner.headers)
    assert r.status_code == 200, r.text
    got = (await http.get(f"/personas/{pid}", headers=owner.headers)).json()["data"]["character_book"]
    assert got == edited
    assert got["x_future_field"] == [1, 2, 3] and got["entries"][0]["x_entry_field"] == "kept"

    # Another field's edit leaves the book byte for byte as it was.
    r = await http.patch(f"/personas/{pid}", json={"tagline": "Keeper of the light"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["character_book"] == edited

    # The card export carries the edited book.
    card = (await http.get(f"/personas/{pid}/card.json")).json()
    assert card["data"]["character_book"]["entries"][1]["content"] == "Storms come from the north."

    # Bad entries are a 422 naming the lorebook field; nothing changes.
    for bad, where in (
        ({"entries": [{"keys": "lamp", "content": "x"}]}, "character_book.entries[0].keys"),
        ({"entries": [{"keys": ["lamp"], "content": 7}]}, "character_book.entries[0].content"),
        (
            {"entries": [{"keys": ["lamp"], "content": "x", "enabled": "yes"}]},
            "character_book.entries[0].enabled",
        ),
        ({"name": "no entries"}, "character_book"),
    ):
        r = await http.patch(f"/personas/{pid}", json={"character_book": bad}, headers=owner.headers)
        assert r.status_code == 422, r.text
        assert error_field(r).startswith(where), (error_field(r), where)
    assert (await http.get(f"/personas/{pid}", headers=owner.headers)).json()["data"][
        "character_book"
    ] == edited

    # Clearing the lorebook.
    r = await http.patch(f"/personas/{pid}", json={"character_book": None}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["character_book"] is None


async def test_a_fork_credits_the_original_and_notifies_its_creator(site: Site) -> None:
    http = site.http
    creator, forker = await site.user("creator"), await site.user("forker")
    source = await create(http, creator, name="Captain Mara Vell")

    r = await http.post(
        f"/personas/{source['id']}/fork", json={"visibility": "public"}, headers=forker.headers
    )
    assert r.status_code == 201, r.text
    fork = r.json()["data"]
    credit = {
        "persona_id": source["id"],
        "persona_name": "Captain Mara Vell",
        "owner_id": creator.id,
        "owner_name": "creator",
    }
    assert fork["forked_from"] == source["id"] and fork["fork_origin"] == credit
    # Anyone reading the fork's page sees the credit; listings (summaries) carry only the link.
    assert (await http.get(f"/personas/{fork['id']}")).json()["data"]["fork_origin"] == credit
    listed = (await http.get("/personas", params={"creator_id": forker.id})).json()["data"]
    assert [(p["forked_from"], "fork_origin" in p) for p in listed] == [(source["id"], False)]
    assert (await http.get(f"/personas/{source['id']}")).json()["data"]["fork_origin"] is None

    # The creator is notified, named, with a link to the (public) copy; a private copy is not linked.
    await http.post(f"/personas/{source['id']}/fork", headers=forker.headers)
    # Forking your own persona notifies nobody.
    await http.post(f"/personas/{source['id']}/fork", headers=creator.headers)
    events = [e for e in await user_events(site, creator.id) if e["event"] == "notification"]
    assert [
        (e["kind"], e["actor_id"], e["actor_name"], e["persona_id"], e["persona_name"]) for e in events
    ] == [("fork", forker.id, "forker", source["id"], "Captain Mara Vell")] * 2
    assert [e["fork_id"] for e in events] == [fork["id"], None]

    # The original going private hides its name from the fork's readers, never the creator's credit.
    await http.patch(f"/personas/{source['id']}", json={"visibility": "private"}, headers=creator.headers)
    origin = (await http.get(f"/personas/{fork['id']}")).json()["data"]["fork_origin"]
    assert origin == {**credit, "persona_name": None}
    # Deleted: the page says the original is gone.
    await http.delete(f"/personas/{source['id']}", headers=creator.headers)
    origin = (await http.get(f"/personas/{fork['id']}")).json()["data"]["fork_origin"]
    assert origin == {"persona_id": source["id"], "persona_name": None, "owner_id": None, "owner_name": None}

    # Errors: an unknown persona is a 404, a bad visibility a 422 naming it, a visitor a 401.
    r = await http.post("/personas/00000000-0000-0000-0000-000000000000/fork", headers=forker.headers)
    assert r.status_code == 404 and set(r.json()) == {"error", "meta"}
    other = await create(http, creator, name="Other")
    r = await http.post(
        f"/personas/{other['id']}/fork", json={"visibility": "everyone"}, headers=forker.headers
    )
    assert r.status_code == 422 and error_field(r) == "visibility"
    assert (await http.post(f"/personas/{other['id']}/fork")).status_code == 401


async def test_adult_personas_show_only_to_opted_in_accounts_and_their_creator(site: Site) -> None:
    http = site.http
    creator, adult, minor = await site.user("creator"), await site.user("adult"), await site.user("reader")
    tame = await create(http, creator, name="Tame Tavern Keeper", tags=["tavern"])
    spicy = await create(http, creator, name="Velvet Tavern Siren", tags=["tavern"], nsfw=True)

    def ids(r: Any) -> set[str]:
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["data"]}

    both, only_tame = {tame["id"], spicy["id"]}, {tame["id"]}
    # Off by default: anonymous and a fresh account see no NSFW persona, in Explore or search.
    assert (await http.get("/users/me/settings", headers=minor.headers)).json()["data"] == {
        "show_nsfw": False,
        "adult_confirmed_at": None,
    }
    for headers in ({}, minor.headers, adult.headers):
        assert ids(await http.get("/personas", headers=headers)) == only_tame
        assert ids(await http.get("/personas", params={"q": "tavern"}, headers=headers)) == only_tame
        assert (
            ids(await http.get("/personas", params={"tag": "tavern", "sort": "top"}, headers=headers))
            == only_tame
        )
    # The creator always sees their own, everywhere.
    assert ids(await http.get("/personas", headers=creator.headers)) == both
    assert ids(
        await http.get("/personas", params={"q": "siren", "sort": "trending"}, headers=creator.headers)
    ) == {spicy["id"]}
    # Asking the listing for NSFW without the setting is refused, so no client can bypass it.
    for headers in ({}, minor.headers):
        r = await http.get("/personas", params={"include_nsfw": "true"}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "nsfw_not_enabled"
        assert error_field(r) == "query.include_nsfw"

    # Turning it on needs the age confirmation; bad bodies are 422s naming the field.
    url = "/users/me/settings"
    for body, field in (
        ({"show_nsfw": True}, "confirm_adult"),
        ({"show_nsfw": True, "confirm_adult": False}, "confirm_adult"),
        ({"show_nsfw": "yes", "confirm_adult": True}, "show_nsfw"),
        ({"confirm_adult": True}, ""),
        ({"show_nsfw": True, "confirm_adult": True, "age": 30}, ""),
    ):
        r = await http.patch(url, json=body, headers=adult.headers)
        assert r.status_code == 422, (body, r.text)
        if field:
            assert error_field(r) == field, body
    assert (await http.patch(url, json={"show_nsfw": True, "confirm_adult": True})).status_code == 401
    r = await http.patch(url, json={"show_nsfw": True, "confirm_adult": True}, headers=adult.headers)
    assert r.status_code == 200, r.text
    on = r.json()["data"]
    assert on["show_nsfw"] is True and on["adult_confirmed_at"]
    assert (await http.get(url, headers=adult.headers)).json()["data"] == on

    assert ids(await http.get("/personas", headers=adult.headers)) == both
    assert ids(await http.get("/personas", params={"q": "tavern"}, headers=adult.headers)) == both
    assert ids(await http.get("/personas", params={"include_nsfw": "true"}, headers=adult.headers)) == both
    # `include_nsfw=false` narrows an opted-in listing (the creator still sees their own).
    assert (
        ids(await http.get("/personas", params={"include_nsfw": "false"}, headers=adult.headers)) == only_tame
    )
    assert ids(await http.get("/personas", params={"include_nsfw": "false"}, headers=creator.headers)) == both
    assert (await http.get("/personas", params={"include_nsfw": "maybe"})).status_code == 422
    # The feed follows the same setting.
    await http.put(f"/users/{creator.id}/follow", headers=adult.headers)
    await http.put(f"/users/{creator.id}/follow", headers=minor.headers)
    assert ids(await http.get("/feed", headers=adult.headers)) == both
    assert ids(await http.get("/feed", headers=minor.headers)) == only_tame
    # Anyone may still open the persona by its link: the page asks before showing it.
    assert (await http.get(f"/personas/{spicy['id']}")).json()["data"]["nsfw"] is True
    # The creator's profile counts what each viewer's list of them shows.
    for headers, count in (({}, 1), (minor.headers, 1), (adult.headers, 2), (creator.headers, 2)):
        r = await http.get(f"/users/{creator.id}", headers=headers)
        assert r.json()["data"]["public_persona_count"] == count, (headers, r.text)

    # Turning it off needs no confirmation and keeps the date of the last one.
    r = await http.patch(url, json={"show_nsfw": False}, headers=adult.headers)
    assert r.json()["data"] == {"show_nsfw": False, "adult_confirmed_at": on["adult_confirmed_at"]}
    assert ids(await http.get("/personas", headers=adult.headers)) == only_tame
