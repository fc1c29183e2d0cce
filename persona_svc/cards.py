"""Character card interchange: V1/V2/V3 JSON or PNG in, a persona out; a persona out as a
V3 card (JSON) or as a PNG carrying both a V2 `chara` and a V3 `ccv3` chunk.

Field mapping: `first_mes` ↔ greeting, `mes_example` ↔ example_dialogues, the others keep
their names. Our own fields with no card equivalent (tagline, nsfw) travel in
`extensions.persona_community`, so import → export → import gives the same persona.
Unknown `extensions` keys, the lorebook (`character_book`) and any `data` field this
service has no column for (V3 `nickname`, `source`, `assets`, …) are kept verbatim.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from PIL import Image, ImageDraw, ImageFont

from chassis import png
from chassis.binding import depth_error, field_of, too_deep
from proto.cards import V1_FIELDS, V2_FIELDS, V2_SPEC, V3_SPEC, CardData, CharacterCard
from proto.personas import Persona, PersonaCreate, Visibility

OUR_EXTENSION = "persona_community"
# Card field ← persona field, where the names differ.
CARD_NAMES = {"greeting": "first_mes", "example_dialogues": "mes_example"}
# Regenerated at every export (V3: "SHOULD add or modify this field when exported").
EXPORT_STAMPED = frozenset({"modification_date"})
# Lorebook, extensions and extras together, JSON-encoded.
MAX_STRUCTURED_BYTES = 2 * 1024 * 1024

_json = msgspec.json.Encoder()


class CardError(ValueError):
    """An import that cannot become a persona; `field` names the card field at fault."""

    def __init__(self, message: str, field: str = "card") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class ImportedCard:
    persona: PersonaCreate
    spec: str
    # The PNG the card came in, without its card chunks (it becomes the avatar).
    image: bytes | None = None


def read_card(body: bytes, *, visibility: Visibility, max_bytes: int) -> ImportedCard:
    """Parse a card (JSON, or PNG with a `ccv3`/`chara` tEXt chunk) and map it to a persona."""
    if len(body) > max_bytes:
        raise CardError(f"card is {len(body)} bytes, over the {max_bytes}-byte limit")
    if not body.strip():
        raise CardError("no card in the request body")
    image = None
    if png.is_png(body):
        try:
            texts = png.text_chunks(body)
            image = png.with_text(body, {}, drop=frozenset({"chara", "ccv3"}))
        except png.PngError as exc:
            raise CardError(f"damaged PNG: {exc}") from None
        encoded = texts.get("ccv3") or texts.get("chara")
        if encoded is None:
            # Said to people, not to parsers: most who see it dropped an ordinary picture (the
            # card would be a `chara` or `ccv3` tEXt chunk).
            raise CardError(
                "This image has no character card inside. Choose a PNG that was exported as a"
                " character card, or the card's JSON file."
            )
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CardError("the PNG's card chunk is not base64") from None
    else:
        raw = body
    if (path := too_deep(raw)) is not None:
        # Name the card's field: `data.extensions` in a V2/V3 card, `extensions` in a V1 one.
        error = depth_error(path, "card", keep=2 if path[:1] == ["data"] else 1)
        raise CardError(error.message, str(error.details["field"]))
    try:
        card = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise CardError(f"card is not valid JSON: {exc}") from None
    persona, spec = card_to_persona(card, visibility)
    return ImportedCard(persona, spec, image)


def card_to_persona(card: Any, visibility: Visibility) -> tuple[PersonaCreate, str]:
    if not isinstance(card, dict):
        raise CardError("a card is a JSON object")
    spec = card.get("spec")
    if spec in (V2_SPEC, V3_SPEC):
        data = card.get("data")
        if not isinstance(data, dict):
            raise CardError(f"a {spec} card needs a `data` object", "card.data")
        prefix = "card.data"
        extras = {k: v for k, v in data.items() if k not in V2_FIELDS and k not in EXPORT_STAMPED}
    elif spec is None or spec == "chara_card_v1":
        data = {k: card[k] for k in V1_FIELDS if k in card}
        # SillyTavern's V1 exports carry these beside the spec's six fields.
        if isinstance(card.get("creatorcomment"), str):
            data["creator_notes"] = card["creatorcomment"]
        if isinstance(card.get("tags"), list):
            data["tags"] = card["tags"]
        prefix, extras, spec = "card", {}, "chara_card_v1"
    else:
        raise CardError(f"unknown card spec {spec!r} (expected chara_card_v2 or chara_card_v3)", "card.spec")
    # Some editors write null for an empty field; null means absent here.
    data = {k: v for k, v in data.items() if v is not None}
    try:
        typed = msgspec.convert(data, CardData)
    except msgspec.ValidationError as exc:
        message, path = field_of(exc)
        raise CardError(f"{message} ({prefix}.{path})", f"{prefix}.{path}".rstrip(".")) from None
    extensions = dict(typed.extensions)
    ours = extensions.pop(OUR_EXTENSION, None)
    ours = ours if isinstance(ours, dict) else {}
    tagline = ours.get("tagline") if isinstance(ours.get("tagline"), str) else ""
    nsfw = ours.get("nsfw") if isinstance(ours.get("nsfw"), bool) else None
    if nsfw is None:
        nsfw = any(t.strip().lower() == "nsfw" for t in typed.tags)
    fields: dict[str, Any] = {
        "name": typed.name.strip(),
        "tagline": tagline,
        "description": typed.description,
        "personality": typed.personality,
        "scenario": typed.scenario,
        "greeting": typed.first_mes,
        "alternate_greetings": typed.alternate_greetings,
        "example_dialogues": typed.mes_example,
        "system_prompt": typed.system_prompt,
        "post_history_instructions": typed.post_history_instructions,
        "tags": typed.tags,
        "visibility": visibility,
        "nsfw": nsfw,
        "creator_notes": typed.creator_notes,
        "creator": typed.creator,
        "character_version": typed.character_version,
        # Verbatim, so lorebook keys this service does not know survive an export.
        "character_book": data.get("character_book"),
        "extensions": extensions,
        "card_extras": extras,
    }
    try:
        persona = msgspec.convert(fields, PersonaCreate)
    except msgspec.ValidationError as exc:
        message, path = field_of(exc)
        head, _, rest = path.partition("[")
        name = CARD_NAMES.get(head, head) + (f"[{rest}" if rest else "")
        if head == "tagline":
            name = f"extensions.{OUR_EXTENSION}.tagline"
        raise CardError(f"{message} ({prefix}.{name})", f"{prefix}.{name}") from None
    check_structured(persona.character_book, persona.extensions, persona.card_extras, prefix=prefix)
    return persona, spec


def check_structured(
    book: dict[str, Any] | None, extensions: dict[str, Any], extras: dict[str, Any], *, prefix: str = ""
) -> None:
    """Bound the free-form JSON a persona carries; raise CardError naming the field."""
    total = 0
    for name, value in (("character_book", book), ("extensions", extensions), ("card_extras", extras)):
        size = len(_json.encode(value))
        total += size
        if total > MAX_STRUCTURED_BYTES:
            field = f"{prefix}.{name}" if prefix else name
            raise CardError(f"{field} is too large ({size} bytes of JSON)", field)


def _data(persona: Persona) -> dict[str, Any]:
    extensions = dict(persona.extensions)
    ours: dict[str, Any] = {}
    if persona.tagline:
        ours["tagline"] = persona.tagline
    if persona.nsfw:
        ours["nsfw"] = True
    if ours:
        extensions[OUR_EXTENSION] = ours
    data: dict[str, Any] = {
        "name": persona.name,
        "description": persona.description,
        "personality": persona.personality,
        "scenario": persona.scenario,
        "first_mes": persona.greeting,
        "mes_example": persona.example_dialogues,
        "creator_notes": persona.creator_notes,
        "system_prompt": persona.system_prompt,
        "post_history_instructions": persona.post_history_instructions,
        "alternate_greetings": list(persona.alternate_greetings),
        "tags": list(persona.tags),
        "creator": persona.creator,
        "character_version": persona.character_version,
        "extensions": extensions,
    }
    if persona.character_book is not None:
        data["character_book"] = persona.character_book
    return data


def card_v3(persona: Persona) -> CharacterCard:
    """The V3 card of `persona`; its `data` keeps every V2 field for V2 readers."""
    data = {**persona.card_extras, **_data(persona)}
    data.setdefault("group_only_greetings", [])
    data["modification_date"] = int(_timestamp(persona.updated_at))
    return CharacterCard(spec=V3_SPEC, spec_version="3.0", data=data)


def card_v2(persona: Persona) -> dict[str, Any]:
    """The V2 card (plus the V1 fields at the root, for V1-only readers)."""
    data = _data(persona)
    root = {k: data[k] for k in V1_FIELDS}
    return {**root, "spec": V2_SPEC, "spec_version": "2.0", "data": data}


def card_png(persona: Persona, image: bytes | None) -> bytes:
    """`image` (any format Pillow reads, or a generated portrait when None) as a PNG with
    the V2 card in `chara` and the V3 card in `ccv3`."""
    base = as_png(image) if image is not None else portrait(persona)
    texts = {
        "chara": base64.b64encode(_json.encode(card_v2(persona))).decode("ascii"),
        "ccv3": base64.b64encode(_json.encode(card_v3(persona))).decode("ascii"),
    }
    return png.with_text(base, texts)


def as_png(image: bytes) -> bytes:
    if png.is_png(image):
        try:
            png.text_chunks(image)
            return image
        except png.PngError:
            pass
    with Image.open(io.BytesIO(image)) as img:
        out = io.BytesIO()
        img.convert("RGBA").save(out, format="PNG")
        return out.getvalue()


def portrait(persona: Persona) -> bytes:
    """A plain 400×600 card image (colour from the id, the name's initial) for personas without avatar."""
    seed = int(persona.id.replace("-", "")[:6] or "0", 16)
    colour = (64 + seed % 128, 64 + (seed >> 8) % 128, 64 + (seed >> 16) % 128)
    img = Image.new("RGB", (400, 600), colour)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=200)
    initial = (persona.name.strip()[:1] or "?").upper()
    draw.text((200, 300), initial, fill=(255, 255, 255), font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _timestamp(value: datetime) -> float:
    return value.timestamp()
