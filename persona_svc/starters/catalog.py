"""The starter personas as data: `personas.toml` read into validated `PersonaCreate` bodies,
each with its avatar image and a persona id derived from its slug (the stable key)."""

from __future__ import annotations

import functools
import tomllib
import uuid
from pathlib import Path
from typing import Annotated, Any

import msgspec

from proto.personas import PersonaCreate

HERE = Path(__file__).parent
DATA = HERE / "personas.toml"
AVATARS = HERE / "avatars"
AVATAR_TYPE = "image/webp"
# Persona ids are uuid5(NAMESPACE, slug): the same starter has the same id on every install.
NAMESPACE = uuid.UUID("5f2b8c1e-7a43-4d0b-9e6f-3c8a1d2b4e90")

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]


class Starter(msgspec.Struct, frozen=True, kw_only=True):
    slug: Slug
    avatar_prompt: str
    persona: PersonaCreate

    @property
    def persona_id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, self.slug))

    @property
    def avatar_path(self) -> Path:
        return AVATARS / f"{self.slug}.webp"

    def avatar(self) -> bytes:
        return self.avatar_path.read_bytes()


def parse(raw: dict[str, Any]) -> Starter:
    """One `[[starter]]` table: its slug and avatar prompt, and a public persona from the rest."""
    fields = dict(raw)
    slug, prompt = fields.pop("slug", None), fields.pop("avatar_prompt", "")
    persona = msgspec.convert({**fields, "visibility": "public"}, PersonaCreate)
    return msgspec.convert({"slug": slug, "avatar_prompt": prompt, "persona": persona}, Starter)


@functools.cache
def starters() -> tuple[Starter, ...]:
    with DATA.open("rb") as f:
        found = tuple(parse(raw) for raw in tomllib.load(f)["starter"])
    slugs = [s.slug for s in found]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"starter slugs repeat: {sorted(slugs)}")
    return found
