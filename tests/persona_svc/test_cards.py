"""Character cards: V1/V2/V3 JSON and PNG in, V3 JSON and PNG out, through the gateway.

The fixtures are written here from the public specs (malfoyslastname/character-card-spec-v2,
kwaroran/character-card-spec-v3); PNGs are made with Pillow's own tEXt writer, so the
reader under test is checked against an independent implementation.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from chassis import png
from tests.persona_svc.conftest import Site, SiteFactory
from tests.persona_svc.helpers import (
    png_card,
    v2_card,
)
from tests.support.paths import SHARED
from tests.support.poll import eventually
from tests.support.users import User

SERAPHINA = SHARED / "fixtures" / "cards" / "seraphina_v2.png"


V1_CARD: dict[str, Any] = {
    "name": "Old Tom",
    "description": "{{char}} is a ferryman on the river Lune.",
    "personality": "taciturn, honest",
    "scenario": "{{user}} needs to cross the river at night.",
    "first_mes": "*Tom raises his lantern.* Crossing, are we?",
    "mes_example": "<START>\n{{user}}: How much?\n{{char}}: Two coins. Always two.",
}

# Card fields our persona keeps under the same name (first_mes and mes_example are renamed).
SAME_NAMED_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "alternate_greetings",
    "tags",
    "creator",
    "character_version",
    "character_book",
    "extensions",
)


def v3_card() -> dict[str, Any]:
    card = v2_card()
    data = card["data"]
    data["name"] = "Mara of the Light"
    data["character_book"]["entries"][0]["use_regex"] = False
    data.update(
        {
            "nickname": "Mara",
            "creator_notes_multilingual": {"en": "Moody.", "fr": "Lunatique."},
            "source": ["https://example.com/cards/mara"],
            "group_only_greetings": ["*Mara nods at the group.*"],
            "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
            "creation_date": 1700000000,
            "modification_date": 1700000500,
        }
    )
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


async def import_card(
    site: Site, user: User, body: bytes, content_type: str, **params: str
) -> httpx.Response:
    headers = {**user.headers, "content-type": content_type}
    return await site.http.post("/personas/import", content=body, params=params, headers=headers)


def comparable(persona: dict[str, Any]) -> dict[str, Any]:
    """A persona without what differs between two copies of it."""
    skip = {"id", "created_at", "updated_at", "like_count", "chat_count", "liked_by_me"}
    skip |= {"avatar_media_id", "avatar_url", "avatar_urls"}
    return {k: v for k, v in persona.items() if k not in skip}


async def test_v1_v2_v3_json_cards_map_every_field(site: Site) -> None:
    user = await site.user()
    r = await import_card(site, user, json.dumps(V1_CARD).encode(), "application/json")
    assert r.status_code == 201, r.text
    v1 = r.json()["data"]
    assert (v1["name"], v1["greeting"], v1["example_dialogues"]) == (
        "Old Tom",
        V1_CARD["first_mes"],
        V1_CARD["mes_example"],
    )
    assert v1["visibility"] == "private" and v1["owner_id"] == user.id and v1["avatar_media_id"] is None

    card = v2_card()
    r = await import_card(site, user, json.dumps(card).encode(), "application/json", visibility="public")
    assert r.status_code == 201, r.text
    v2 = r.json()["data"]
    data = card["data"]
    assert v2["visibility"] == "public"
    for ours, theirs in [("greeting", "first_mes"), ("example_dialogues", "mes_example")]:
        assert v2[ours] == data[theirs]
    for field in SAME_NAMED_FIELDS:
        assert v2[field] == data[field], field

    card3 = v3_card()
    r = await import_card(site, user, json.dumps(card3).encode(), "application/json")
    assert r.status_code == 201, r.text
    v3 = r.json()["data"]
    assert v3["name"] == "Mara of the Light" and v3["character_book"] == card3["data"]["character_book"]
    assert v3["card_extras"] == {
        k: card3["data"][k]
        for k in (
            "nickname",
            "creator_notes_multilingual",
            "source",
            "group_only_greetings",
            "assets",
            "creation_date",
        )
    }


async def test_export_then_import_gives_the_same_persona(site: Site) -> None:
    user = await site.user()
    first = (await import_card(site, user, json.dumps(v3_card()).encode(), "application/json")).json()["data"]
    await site.http.patch(
        f"/personas/{first['id']}", json={"tagline": "Keeper", "nsfw": True}, headers=user.headers
    )
    first = (await site.http.get(f"/personas/{first['id']}", headers=user.headers)).json()["data"]

    r = await site.http.get(f"/personas/{first['id']}/card.json", headers=user.headers)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    exported = r.json()
    assert exported["spec"] == "chara_card_v3" and exported["spec_version"] == "3.0"
    data = exported["data"]
    # V2 readers find their fields; V3 extras and unknown extensions survive.
    assert data["first_mes"] == first["greeting"] and data["mes_example"] == first["example_dialogues"]
    assert data["extensions"]["chub"] == {"full_path": "ferry_tales/mara", "id": 123456}
    assert data["extensions"]["persona_community"] == {"tagline": "Keeper", "nsfw": True}
    assert data["nickname"] == "Mara" and data["group_only_greetings"] == ["*Mara nods at the group.*"]
    assert isinstance(data["modification_date"], int)

    r = await import_card(site, user, r.content, "application/json", visibility="private")
    second = r.json()["data"]
    assert comparable(second) == comparable(first)

    # Through a PNG as well: both chunks are written, and ccv3 is what comes back.
    r = await site.http.get(f"/personas/{first['id']}/card.png", headers=user.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(r.content)) as img:
        texts = dict(img.text)  # type: ignore[attr-defined]
        assert img.size == (400, 600)
    v2 = json.loads(base64.b64decode(texts["chara"]))
    v3 = json.loads(base64.b64decode(texts["ccv3"]))
    assert (
        v2["spec"] == "chara_card_v2"
        and v2["name"] == first["name"]
        and v2["data"]["creator"] == "ferry_tales"
    )
    assert "nickname" not in v2["data"] and v3["data"]["nickname"] == "Mara"


async def test_png_cards_become_personas_with_their_image_as_avatar(start_site: SiteFactory) -> None:
    site = await start_site(media=True)
    user = await site.user()
    old = v2_card()
    old["data"]["name"] = "Backfilled V2"
    body = png_card({"chara": old, "ccv3": v3_card()})
    r = await import_card(site, user, body, "image/png", visibility="public")
    assert r.status_code == 201, r.text
    persona = r.json()["data"]
    assert persona["name"] == "Mara of the Light", "ccv3 wins over chara"
    media_id = persona["avatar_media_id"]
    assert media_id

    async def avatar_ready() -> bool:
        r = await site.http.get(f"/media/{media_id}", headers=user.headers)
        return bool(r.status_code == 200 and r.json()["data"]["status"] == "ready")

    await eventually(avatar_ready)
    # Exported with the avatar: the same pixels, the persona in both chunks.
    r = await site.http.get(f"/personas/{persona['id']}/card.png")
    assert r.status_code == 200, r.text
    with Image.open(io.BytesIO(r.content)) as img:
        assert img.size == (64, 96) and img.convert("RGB").getpixel((5, 5)) == (30, 90, 160)
        texts = dict(img.text)  # type: ignore[attr-defined]
    assert json.loads(base64.b64decode(texts["ccv3"]))["data"]["name"] == "Mara of the Light"
    # … and importing that PNG again gives the same persona.
    again = (await import_card(site, user, r.content, "image/png", visibility="public")).json()["data"]
    assert comparable(again) == comparable(persona) and again["avatar_media_id"] != media_id

    # A multipart form upload (what a browser sends) works too.
    files = {"file": ("tom.png", png_card({"chara": V1_CARD}), "image/png")}
    r = await site.http.post("/personas/import", files=files, headers=user.headers)
    assert r.status_code == 201 and r.json()["data"]["name"] == "Old Tom"


@pytest.mark.skipif(not SERAPHINA.exists(), reason="needs ../shared/fixtures (not in a fresh clone)")
async def test_real_world_seraphina_card_keeps_every_field(start_site: SiteFactory) -> None:
    site = await start_site(media=True)
    user = await site.user()
    raw = SERAPHINA.read_bytes()
    with Image.open(io.BytesIO(raw)) as img:
        card = json.loads(base64.b64decode(img.text["chara"]))  # type: ignore[attr-defined]
    data = card["data"]
    r = await import_card(site, user, raw, "image/png")
    assert r.status_code == 201, r.text
    persona = r.json()["data"]
    assert persona["greeting"] == data["first_mes"] and persona["example_dialogues"] == data["mes_example"]
    for field in SAME_NAMED_FIELDS:
        assert persona[field] == data[field], field
    assert persona["avatar_media_id"]
    exported = (await site.http.get(f"/personas/{persona['id']}/card.json", headers=user.headers)).json()
    for field, value in data.items():
        assert exported["data"][field] == value, field


async def test_malformed_or_oversized_cards_are_422_and_create_nothing(start_site: SiteFactory) -> None:
    site = await start_site(persona_card_max_bytes=256 * 1024)
    user = await site.user()
    no_data = {"spec": "chara_card_v2", "spec_version": "2.0"}
    nameless = v2_card()
    del nameless["data"]["name"]
    bad_tags = v2_card()
    bad_tags["data"]["tags"] = "a, b"
    bad_book = v2_card()
    bad_book["data"]["character_book"] = {"entries": "none"}
    long_text = v2_card()
    long_text["data"]["first_mes"] = "x" * (32 * 1024 + 1)
    unknown_spec = {"spec": "chara_card_v9", "data": {"name": "x"}}
    good_png = png_card({"chara": v2_card()})
    truncated = good_png[: len(good_png) // 2]
    corrupt = bytearray(good_png)
    corrupt[40] ^= 0xFF
    cases: list[tuple[bytes, str, str]] = [
        (b"{not json", "application/json", "card"),
        (b"[1, 2, 3]", "application/json", "card"),
        (b"", "application/json", "card"),
        (json.dumps(no_data).encode(), "application/json", "card.data"),
        (json.dumps(nameless).encode(), "application/json", "card.data.name"),
        (json.dumps(bad_tags).encode(), "application/json", "card.data.tags"),
        (json.dumps(bad_book).encode(), "application/json", "card.data.character_book.entries"),
        (json.dumps(long_text).encode(), "application/json", "card.data.first_mes"),
        (json.dumps(unknown_spec).encode(), "application/json", "card.spec"),
        (json.dumps({"name": ""}).encode(), "application/json", "card.name"),
        (png_card({}), "image/png", "card"),
        (png_card({"other": V1_CARD}), "image/png", "card"),
        (truncated, "image/png", "card"),
        (bytes(corrupt), "image/png", "card"),
        (json.dumps({**V1_CARD, "description": "x" * 300_000}).encode(), "application/json", "card"),
    ]
    for body, content_type, field in cases:
        r = await import_card(site, user, body, content_type)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"]["details"]["field"] == field, (field, r.text)
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", "%%% not base64 %%%")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG", pnginfo=info)
    r = await import_card(site, user, out.getvalue(), "image/png")
    assert r.status_code == 422 and "base64" in r.json()["error"]["message"]
    mine = await site.http.get("/personas", params={"creator_id": user.id}, headers=user.headers)
    assert mine.json()["data"] == []


def test_png_writer_keeps_other_chunks_and_replaces_card_chunks() -> None:
    original = png_card({"chara": V1_CARD, "Comment": {"note": 1}})
    rewritten = png.with_text(original, {"chara": "bmV3"}, drop=frozenset({"ccv3"}))
    kinds = [kind for kind, _ in png.chunks(rewritten)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and kinds.count(b"IDAT") >= 1
    texts = png.text_chunks(rewritten)
    assert texts["chara"] == b"bmV3" and "Comment" in texts
    with Image.open(io.BytesIO(rewritten)) as img:
        assert img.text["chara"] == "bmV3"  # type: ignore[attr-defined]
        img.load()
    with pytest.raises(png.PngError):
        png.text_chunks(original[:-5])


def with_nested(document: dict[str, Any], depth: int) -> bytes:
    """`document` as JSON with its `"DEEP"` value replaced by objects nested `depth` deep
    (written as text: Python's own json module cannot encode 1,000 levels)."""
    deep = '{"deeper":' * (depth - 1) + '{"leaf":true}' + "}" * (depth - 1)
    return json.dumps(document).replace('"DEEP"', deep).encode()


async def test_broken_multipart_and_deep_json_are_4xx_and_create_nothing(site: Site) -> None:
    user = await site.user()
    form = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="c.json"\r\n\r\n'
        b"{}\r\n--b0undary--\r\n"
    )
    broken_forms = [
        "multipart/form-data",  # no boundary
        "multipart/form-data; boundary=",  # an empty one
        "multipart/form-data; boundary=other",  # one the body does not use
        'multipart/form-data; boundary="' + "x" * 200 + '"',  # longer than RFC 2046's 70
    ]
    for content_type in broken_forms:
        r = await import_card(site, user, form, content_type)
        assert 400 <= r.status_code < 500, (content_type, r.status_code, r.text)
        error = r.json()["error"]
        assert error["code"] and "multipart" in error["message"], (content_type, error)
        assert r.json()["meta"]["request_id"]
    # Free-form JSON (extensions, character_book) nested 1,000 deep: refused by bind() and by import.
    deep_card = v2_card()
    deep_card["data"]["extensions"] = "DEEP"
    for depth in (1000, 40):
        r = await import_card(site, user, with_nested(deep_card, depth), "application/json")
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == "card.data.extensions", r.text
    persona = {
        "name": "Deep",
        "description": "d",
        "greeting": "g",
        "visibility": "private",
        "extensions": "DEEP",
    }
    json_headers = {**user.headers, "content-type": "application/json"}
    for depth in (1000, 32):
        r = await site.http.post("/personas", content=with_nested(persona, depth), headers=json_headers)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["details"]["field"] == "extensions" and "nested deeper than 32" in error["message"]
    mine = await site.http.get("/personas", params={"creator_id": user.id}, headers=user.headers)
    assert mine.json()["data"] == []
    # 31 levels in `extensions` is 32 from the top of the body: allowed.
    r = await site.http.post("/personas", content=with_nested(persona, 31), headers=json_headers)
    assert r.status_code == 201, r.text
