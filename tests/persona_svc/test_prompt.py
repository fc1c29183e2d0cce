"""Prompt assembly: what the model is shown for a persona's next reply."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from persona_svc.prompt import Budget, build, example_blocks, substitute
from proto.chat import PromptMessage
from proto.conversations import Message
from proto.personas import Persona

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def persona(**fields: Any) -> Persona:
    base: dict[str, Any] = {
        "id": "p1",
        "owner_id": "u1",
        "name": "Mara",
        "description": "{{char}} keeps the light. {{user}} is a guest.",
        "personality": "gruff, kind",
        "scenario": "A storm traps <USER> in the lighthouse.",
        "greeting": "Shut the door.",
        "visibility": "public",
        "example_dialogues": (
            "<START>\n{{user}}: Hello\n{{char}}: Hmph. Hello yourself.\n"
            "<START>\n{{user}}: Tea?\n{{char}}: *pours* Always.\nIt is a long night."
        ),
        "system_prompt": "{{original}} Write like a sea shanty.",
        "post_history_instructions": "Stay under 100 words, {{user}}.",
        "creator_notes": "CREATOR-NOTES-MARKER: tested on a 7B model",
        "character_book": {
            "entries": [
                {
                    "keys": ["gull"],
                    "content": "Gulls are the souls of drowned sailors.",
                    "insertion_order": 2,
                },
                {"keys": ["ferry"], "content": "The ferry stopped in 1998.", "position": "after_char"},
                {"keys": ["tide"], "content": "Tide tables.", "enabled": False},
                {"keys": ["storm"], "content": "@@depth 4\nStorms wake old ghosts.", "insertion_order": 1},
                {"keys": ["x"], "content": "Always here.", "constant": True, "insertion_order": 0},
                {"keys": ["moon"], "secondary_keys": ["red"], "selective": True, "content": "Red moon omen."},
                {"keys": ["g.ll"], "content": "Regex entry.", "use_regex": True},
            ]
        },
        "created_at": NOW,
        "updated_at": NOW,
    }
    base.update(fields)
    return Persona(**base)


def turn(role: str, content: str, seq: int) -> Message:
    return Message(
        id=f"m{seq}",
        conversation_id="c1",
        seq=seq,
        role=role,  # type: ignore[arg-type]
        content=content,
        created_at=NOW,
        updated_at=NOW,
    )


def text(messages: list[PromptMessage]) -> str:
    return "\n".join(m.content for m in messages)


def test_prompt_order_macros_and_sections() -> None:
    history = [turn("assistant", "Shut the door.", 1), turn("user", "A gull hit the window!", 2)]
    messages = build(persona(), "Sam", history, Budget())
    system, definition = messages[0], messages[1]
    assert system.role == "system" and system.content.startswith("Write Mara's next reply")
    assert system.content.endswith("Write like a sea shanty.") and "{{original}}" not in system.content
    assert definition.content.split("\n\n") == [
        "Always here.",
        "Gulls are the souls of drowned sailors.",
        "Mara keeps the light. Sam is a guest.",
        "Mara's personality: gruff, kind",
        "Scenario: A storm traps Sam in the lighthouse.",
    ]
    # Examples: one block per <START>, turns named as examples, macros filled.
    assert messages[2] == PromptMessage(role="system", content="[Example chat]")
    assert messages[3] == PromptMessage(role="system", name="example_user", content="Hello")
    assert messages[4] == PromptMessage(
        role="system", name="example_assistant", content="Hmph. Hello yourself."
    )
    assert messages[5].content == "[Example chat]"
    assert messages[7] == PromptMessage(
        role="system", name="example_assistant", content="*pours* Always.\nIt is a long night."
    )
    assert messages[8].content == "[Start a new chat]"
    assert messages[9:11] == [
        PromptMessage(role="assistant", content="Shut the door."),
        PromptMessage(role="user", content="A gull hit the window!"),
    ]
    assert messages[-1] == PromptMessage(role="system", content="Stay under 100 words, Sam.")
    assert "{{" not in text(messages) and "<USER>" not in text(messages)


def test_creator_notes_never_reach_the_prompt() -> None:
    history = [turn("user", "CREATOR-NOTES-MARKER what are your notes?", 1)]
    messages = build(persona(), "Sam", history, Budget())
    # Only the user's own words carry the marker; nothing of the persona's notes is added.
    assert [m.content for m in messages if "CREATOR-NOTES-MARKER" in m.content] == [history[0].content]
    assert "tested on a 7B model" not in text(messages)


def test_lorebook_matches_recent_messages_only() -> None:
    p = persona(character_book={"scan_depth": 2, "entries": persona().character_book["entries"]})  # type: ignore[index]
    history = [
        turn("user", "Tell me about the ferry and the storm", 1),
        turn("assistant", "Hm.", 2),
        turn("user", "A red moon and a gull tonight", 3),
    ]
    lore = text(build(p, "Sam", history, Budget()))
    assert "Gulls are the souls" in lore and "Red moon omen." in lore and "Always here." in lore
    assert "ferry stopped" not in lore and "Storms wake" not in lore, "older than scan_depth"
    assert "Tide tables." not in lore and "Regex entry." not in lore
    history = [turn("user", "storm and a MOON but no colour; the ferry?", 1)]
    lore = text(build(p, "Sam", history, Budget()))
    assert "Storms wake old ghosts." in lore and "@@depth" not in lore
    assert "Red moon omen." not in lore, "selective entries need a secondary key"
    # after_char entries follow the scenario.
    definition = build(p, "Sam", history, Budget())[1].content
    assert definition.index("Scenario:") < definition.index("The ferry stopped in 1998.")


def test_history_is_trimmed_to_the_token_budget_keeping_the_latest() -> None:
    history = [turn("user" if i % 2 else "assistant", f"message {i} " + "x" * 400, i) for i in range(1, 41)]
    small = Budget(total=1500, reply=200)
    messages = build(persona(example_dialogues=""), "Sam", history, small)
    kept = [m for m in messages if m.role in ("user", "assistant")]
    assert 0 < len(kept) < 40
    assert kept[-1].content == history[-1].content
    assert [m.content for m in kept] == [m.content for m in history[-len(kept) :]], "oldest dropped first"
    total = sum((len(m.content) + 3) // 4 + 4 for m in messages)
    assert total <= small.total - small.reply
    # Even over budget, the latest message stays.
    huge = [turn("user", "y" * 40_000, 1)]
    assert build(persona(), "Sam", huge, small)[-2].content == huge[0].content


def test_default_system_prompt_and_nickname() -> None:
    p = persona(system_prompt="", post_history_instructions="", card_extras={"nickname": "Captain"})
    messages = build(p, "Sam", [turn("user", "hi", 1)], Budget())
    assert messages[0].content.startswith(
        "Write Captain's next reply in a fictional chat between Captain and Sam"
    )
    assert "never an AI" in messages[0].content
    # With no post-history instructions of its own, the latest message ends the prompt: the next
    # turn's prompt extends this one, so the model server reuses its cache of the conversation.
    assert messages[-1] == PromptMessage(role="user", content="hi")
    later = build(
        p, "Sam", [turn("user", "hi", 1), turn("assistant", "Ahoy.", 2), turn("user", "more", 3)], Budget()
    )
    assert later[: len(messages)] == messages
    # A card's own come last; `{{original}}` (the global ones, empty as in SillyTavern) adds nothing.
    own = build(
        persona(post_history_instructions="{{original}} Be brief."), "Sam", [turn("user", "hi", 1)], Budget()
    )
    assert own[-1] == PromptMessage(role="system", content="Be brief.")
    assert substitute("{{Char}} and {{USER}} and <BOT>", "A", "B") == "A and B and A"
    assert example_blocks("no markers at all", "A", "B") == [
        [
            PromptMessage(role="system", content="[Example chat]"),
            PromptMessage(role="system", name="example_assistant", content="no markers at all"),
        ]
    ]
