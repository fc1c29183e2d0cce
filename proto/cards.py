"""Character cards (SillyTavern, Chub, RisuAI): the V2/V3 shapes persona_svc reads and writes.

V1 is a flat object (name, description, personality, scenario, first_mes, mes_example);
V2 (`chara_card_v2`, 2.0) and V3 (`chara_card_v3`, 3.0) nest the fields in `data`.
A lorebook (`character_book`) is stored verbatim; `Lorebook` is the typed view used to
validate it and to pick entries for a prompt.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

V2_SPEC: Final = "chara_card_v2"
V3_SPEC: Final = "chara_card_v3"

# `data` fields of a V2 card (V3 keeps them); anything else in `data` is kept as an extra.
V2_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "alternate_greetings",
    "character_book",
    "tags",
    "creator",
    "character_version",
    "extensions",
)
V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")


class LorebookEntry(msgspec.Struct, kw_only=True):
    keys: list[str] = []
    content: str = ""
    extensions: dict[str, Any] = {}
    enabled: bool = True
    insertion_order: float = 0
    case_sensitive: bool | None = None
    use_regex: bool = False
    constant: bool | None = None
    name: str | None = None
    priority: float | None = None
    id: int | str | None = None
    comment: str | None = None
    selective: bool | None = None
    secondary_keys: list[str] = []
    position: str | None = None


class Lorebook(msgspec.Struct, kw_only=True):
    entries: list[LorebookEntry]
    name: str | None = None
    description: str | None = None
    scan_depth: int | None = None
    token_budget: int | None = None
    recursive_scanning: bool | None = None
    extensions: dict[str, Any] = {}


class CardData(msgspec.Struct, kw_only=True):
    """The typed view of a card's `data` (V2 fields), used to validate an import."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: list[str] = []
    character_book: Lorebook | None = None
    tags: list[str] = []
    creator: str = ""
    character_version: str = ""
    extensions: dict[str, Any] = {}


class CharacterCard(msgspec.Struct, kw_only=True):
    """`GET /personas/{id}/card.json`: a V3 card whose `data` also has every V2 field."""

    spec: Literal["chara_card_v3", "chara_card_v2"]
    spec_version: str
    data: dict[str, Any]


lorebook_decoder = msgspec.json.Decoder(Lorebook)
