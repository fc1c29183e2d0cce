"""A persona's prompt in a room: who said what, and who else is there.

The persona's own card and lorebook come from `prompt.build`; the room's history is handed to
it with this persona's replies as `assistant` turns and everyone else's (members by the name
they play, other personas by theirs) as `user` turns prefixed with the speaker's name, merged
when consecutive (chat templates of small models insist on alternating roles). A system note
before the history names the people and the other personas, so the persona can address them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from persona_svc import prompt
from proto.chat import PromptMessage
from proto.conversations import Message, MessageRole
from proto.personas import Persona
from proto.rooms import RoomMessage

START = "[Start a new chat]"
_MENTION_END = re.compile(r"[\w'-]")


def group_note(char: str, title: str, people: Sequence[str], others: Sequence[str]) -> str:
    note = f'This is a group chat, "{title}". People here: {", ".join(people) or "none"}.'
    if others:
        note += (
            f" Other characters here: {', '.join(others)}; they speak for themselves, and {char} may "
            "address them by name."
        )
    # In brackets like the prompt's other markers ("[Start a new chat]"): a stage direction, not
    # part of the character.
    return f"[{note} Each message from someone else starts with their name. Write only {char}'s reply.]"


def turns(persona_id: str, room_id: str, history: Sequence[RoomMessage]) -> list[Message]:
    """The room's history as one persona sees it, consecutive turns of others merged."""
    out: list[Message] = []
    for m in history:
        own = m.kind == "persona" and m.author_id == persona_id
        role: MessageRole = "assistant" if own else "user"
        text = m.content if own else f"{m.author_name}: {m.content}"
        if out and out[-1].role == role:
            out[-1] = msgspec.structs.replace(out[-1], content=f"{out[-1].content}\n\n{text}")
            continue
        out.append(
            Message(
                id=m.id,
                conversation_id=room_id,
                seq=m.seq,
                role=role,
                content=text,
                created_at=m.created_at,
                updated_at=m.created_at,
            )
        )
    return out


def build(
    persona: Persona,
    room_id: str,
    title: str,
    asker: str,
    people: Sequence[str],
    others: Sequence[str],
    history: Sequence[RoomMessage],
    budget: prompt.Budget,
) -> list[PromptMessage]:
    """`asker` (who the member who asked plays) stands for `{{user}}` in the card."""
    note = PromptMessage(role="system", content=group_note(prompt.char_name(persona), title, people, others))
    smaller = prompt.Budget(
        total=budget.total - prompt.tokens(note.content),
        reply=budget.reply,
        scan_depth=budget.scan_depth,
        lorebook=budget.lorebook,
    )
    messages = prompt.build(persona, asker, turns(persona.id, room_id, history), smaller)
    at = next((i for i, m in enumerate(messages) if m.role == "system" and m.content == START), 0)
    return [*messages[:at], note, *messages[at:]]


def mentioned(content: str, personas: Sequence[tuple[str, str]]) -> list[str]:
    """Ids of the personas `@`-named in `content` (`(id, name)` pairs), in order of first
    mention. `@` takes the whole name or its first word, any case: `@Mara`, `@mara vell`."""
    lowered = content.lower()
    first: dict[str, int] = {}
    for persona_id, name in personas:
        for alias in {name.strip().lower(), name.strip().split(" ")[0].lower()}:
            if not alias:
                continue
            start = 0
            while (at := lowered.find("@" + alias, start)) >= 0:
                end = at + 1 + len(alias)
                if end >= len(content) or not _MENTION_END.match(content[end]):
                    first[persona_id] = min(first.get(persona_id, at), at)
                    break
                start = at + 1
    return sorted(first, key=lambda pid: first[pid])
