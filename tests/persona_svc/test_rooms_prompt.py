"""A persona's prompt in a room: who said what, who else is there, its own card and lorebook;
and which personas an `@` names."""

from __future__ import annotations

from datetime import UTC, datetime

from persona_svc.prompt import Budget
from persona_svc.rooms_prompt import build, mentioned
from proto.personas import Persona
from proto.rooms import RoomMessage

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def persona() -> Persona:
    return Persona(
        id="p1",
        owner_id="u9",
        name="Mara",
        description="{{char}} keeps the light. {{user}} is a guest.",
        greeting="Shut the door.",
        visibility="public",
        post_history_instructions="Stay under 100 words, {{user}}.",
        character_book={
            "entries": [{"keys": ["gull"], "content": "Gulls are the souls of drowned sailors."}]
        },
        created_at=NOW,
        updated_at=NOW,
    )


def said(seq: int, kind: str, author_id: str, name: str, text: str) -> RoomMessage:
    return RoomMessage(
        id=f"m{seq}",
        room_id="r1",
        seq=seq,
        kind=kind,  # type: ignore[arg-type]
        author_id=author_id,
        author_name=name,
        content=text,
        created_at=NOW,
    )


HISTORY = [
    said(1, "member", "u1", "Ann", "Evening, all."),
    said(2, "member", "u2", "Ben", "Is the ferry running tonight?"),
    said(3, "persona", "p2", "Otto", "Never missed a crossing!"),
    said(4, "persona", "p1", "Mara", "Hmph. Not in this storm."),
    said(5, "member", "u1", "Ann", "@Mara what about the gulls?"),
]


def test_the_prompt_names_every_speaker_and_the_other_personas() -> None:
    messages = build(persona(), "r1", "Harbour", "Ann", ["Ann", "Ben"], ["Otto"], HISTORY, Budget())
    contents = [m.content for m in messages]
    note = next(c for c in contents if c.startswith("[This is a group chat"))
    assert '"Harbour"' in note and "People here: Ann, Ben." in note and "Other characters here: Otto;" in note
    start = contents.index("[Start a new chat]")
    assert contents.index(note) == start - 1
    history = [(m.role, m.content) for m in messages[start + 1 : -1]]
    assert history == [
        (
            "user",
            "Ann: Evening, all.\n\nBen: Is the ferry running tonight?\n\nOtto: Never missed a crossing!",
        ),
        ("assistant", "Hmph. Not in this storm."),
        ("user", "Ann: @Mara what about the gulls?"),
    ]
    # The persona's own card, with {{user}} the member who asked, and its lorebook (gulls).
    definition = contents[1]
    assert "Mara keeps the light. Ann is a guest." in definition
    assert "Gulls are the souls of drowned sailors." in definition
    assert "Stay under 100 words, Ann." == contents[-1]


def test_mentions_name_personas_in_order_by_whole_name_or_first_word() -> None:
    room = [("p1", "Mara Vell"), ("p2", "Otto Brenner")]
    assert mentioned("@otto then @Mara Vell", room) == ["p2", "p1"]
    assert mentioned("hey @MARA, @mara again", room) == ["p1"]
    assert mentioned("@Marathon and mara@example.org and @Ottoman", room) == []
    assert mentioned("no one", room) == []
