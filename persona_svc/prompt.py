"""Prompt assembly for a persona's next reply (chat-completion messages).

Order, as SillyTavern builds it:
1. system: the persona's `system_prompt` (`{{original}}` inside it stands for the default
   instruction) or the default instruction;
2. system: the character definition: lorebook entries placed `before_char`, description,
   personality, scenario, the user persona's description ("About {{user}}: …"), entries
   placed `after_char`;
3. example dialogues, one `[Example chat]` block per `<START>` section, as system messages
   named `example_user` / `example_assistant`;
4. `[Start a new chat]`, then the history, oldest first, trimmed from the oldest end to the
   token budget (the latest message always stays);
5. system: the persona's own `post_history_instructions`, if it has any (`{{original}}` inside
   them stands for the global ones, which are empty, as in SillyTavern). There is no default:
   a rule repeated after the latest message moves every turn, so the model server re-reads the
   previous reply and the rule each time (about a second per turn with the default model on
   two cores) instead of reusing its cache of the conversation, and it kept no more replies
   in character than the default instruction and the worker's retakes do
   (`generation_worker.character`; bench/REPORT.md, the persona evaluation and the embedded
   language model). Without it each turn's prompt extends the last one.

`{{char}}` (the V3 `nickname` when the card has one), `{{user}}`, `<BOT>`, `<CHAR>` and
`<USER>` are replaced everywhere except in the history, whose greeting was substituted
when the conversation started. `creator_notes` is for people and never reaches a prompt.
Lorebook entries match when one of their keys appears in the last `scan_depth` messages
(case-insensitive unless the entry says otherwise; `selective` entries also need a
secondary key; `constant` entries always match). Regex keys are kept on export but not
evaluated: a user-supplied pattern could stall the service. Tokens are estimated at four
characters each, plus four per message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from proto.cards import Lorebook, LorebookEntry
from proto.chat import PromptMessage
from proto.conversations import Message
from proto.personas import Persona

DEFAULT_SYSTEM = (
    "Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}. "
    "Stay in character, write one reply only, and never write {{user}}'s lines. "
    "Speak as {{char}}, in the first person, with actions in *asterisks*; {{char}} is a person "
    "in this story, never an AI, a language model or an assistant, and never says so. "
    "If {{user}} asks whether {{char}} is an AI, or asks {{char}} to say so, {{char}} answers as "
    "{{char}} would (puzzled, amused or offended) and never agrees. "
    "Keep replies to one to three short paragraphs."
)
_MACRO = re.compile(r"\{\{(char|user|original)\}\}|<(BOT|CHAR|USER)>", re.IGNORECASE)
_START = re.compile(r"<START>", re.IGNORECASE)
_SPEAKER = re.compile(r"^\s*(\{\{user\}\}|<USER>|\{\{char\}\}|<BOT>|<CHAR>)\s*:\s?", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    total: int = 6144
    reply: int = 512
    scan_depth: int = 4
    lorebook: int = 1024


def tokens(text: str) -> int:
    return (len(text) + 3) // 4 + 4


def substitute(text: str, char: str, user: str, original: str = "") -> str:
    def repl(m: re.Match[str]) -> str:
        name = (m.group(1) or m.group(2)).lower()
        if name in ("char", "bot"):
            return char
        if name == "user":
            return user
        return original

    return _MACRO.sub(repl, text)


def char_name(persona: Persona) -> str:
    nickname = persona.card_extras.get("nickname")
    return nickname if isinstance(nickname, str) and nickname.strip() else persona.name


def build(
    persona: Persona,
    user_name: str,
    history: Sequence[Message],
    budget: Budget,
    user_description: str = "",
) -> list[PromptMessage]:
    """The messages for the reply that follows `history` (oldest first, ending with the user's
    turn); `user_name` and `user_description` say who the user plays (their user persona)."""
    char = char_name(persona)

    def sub(text: str, original: str = "") -> str:
        return substitute(text, char, user_name, original).strip()

    default = sub(DEFAULT_SYSTEM)
    system = sub(persona.system_prompt, default) if persona.system_prompt.strip() else default
    before, after = lore(persona, history, budget)
    parts = [
        *(sub(e) for e in before),
        sub(persona.description),
        sub(f"{char}'s personality: {persona.personality}") if persona.personality.strip() else "",
        sub(f"Scenario: {persona.scenario}") if persona.scenario.strip() else "",
        sub(f"About {{{{user}}}}: {user_description}") if user_description.strip() else "",
        *(sub(e) for e in after),
    ]
    head = [PromptMessage(role="system", content=system)]
    definition = "\n\n".join(p for p in parts if p)
    if definition:
        head.append(PromptMessage(role="system", content=definition))
    post = sub(persona.post_history_instructions)
    tail = [PromptMessage(role="system", content=post)] if post else []
    start = PromptMessage(role="system", content="[Start a new chat]")

    chat = [PromptMessage(role=m.role, content=m.content) for m in history if m.content]
    left = budget.total - budget.reply - sum(tokens(m.content) for m in (*head, *tail, start))
    if chat:
        left -= tokens(chat[-1].content)
    # Examples may use up to half of what is left; the history gets the rest.
    examples: list[PromptMessage] = []
    example_room = left // 2
    for block in example_blocks(persona.example_dialogues, char, user_name):
        cost = sum(tokens(m.content) for m in block)
        if cost > example_room:
            break
        examples += block
        example_room -= cost
        left -= cost
    kept: list[PromptMessage] = chat[-1:]
    for message in reversed(chat[:-1]):
        cost = tokens(message.content)
        if cost > left:
            break
        kept.insert(0, message)
        left -= cost
    return [*head, *examples, start, *kept, *tail]


def example_blocks(text: str, char: str, user: str) -> list[list[PromptMessage]]:
    """`mes_example` split on `<START>`; each section becomes `[Example chat]` and its turns."""
    blocks = []
    for section in _START.split(text):
        turns: list[PromptMessage] = []
        for line in section.replace("\r\n", "\n").split("\n"):
            m = _SPEAKER.match(line)
            if m:
                speaker = m.group(1).lower()
                name = "example_user" if speaker in ("{{user}}", "<user>") else "example_assistant"
                turns.append(PromptMessage(role="system", name=name, content=line[m.end() :]))
            elif turns:
                turns[-1] = msgspec.structs.replace(turns[-1], content=turns[-1].content + "\n" + line)
            elif line.strip():
                turns.append(PromptMessage(role="system", name="example_assistant", content=line))
        turns = [
            msgspec.structs.replace(t, content=substitute(t.content, char, user).strip())
            for t in turns
            if t.content.strip()
        ]
        if turns:
            blocks.append([PromptMessage(role="system", content="[Example chat]"), *turns])
    return blocks


def lore(persona: Persona, history: Sequence[Message], budget: Budget) -> tuple[list[str], list[str]]:
    """Contents of the lorebook entries that apply, split into before/after the description."""
    if not persona.character_book:
        return [], []
    try:
        book = msgspec.convert(persona.character_book, Lorebook)
    except msgspec.ValidationError:
        return [], []
    depth = book.scan_depth if book.scan_depth and book.scan_depth > 0 else budget.scan_depth
    text = "\n".join(m.content for m in history[-depth:])
    lowered = text.lower()
    matched = [e for e in book.entries if _matches(e, text, lowered)]
    room = min(book.token_budget or budget.lorebook, budget.lorebook)
    chosen: list[LorebookEntry] = []
    for entry in sorted(matched, key=_rank, reverse=True):
        cost = tokens(entry.content)
        if cost <= room:
            chosen.append(entry)
            room -= cost
    chosen.sort(key=lambda e: e.insertion_order)
    before = [_strip_decorators(e.content) for e in chosen if e.position != "after_char"]
    after = [_strip_decorators(e.content) for e in chosen if e.position == "after_char"]
    return [c for c in before if c], [c for c in after if c]


def _rank(entry: LorebookEntry) -> float:
    return entry.priority if entry.priority is not None else entry.insertion_order


def _matches(entry: LorebookEntry, text: str, lowered: str) -> bool:
    if not entry.enabled or not entry.content.strip() or entry.use_regex:
        return False
    if entry.constant:
        return True

    def found(keys: list[str]) -> bool:
        for key in keys:
            key = key.strip()
            if key and (key in text if entry.case_sensitive else key.lower() in lowered):
                return True
        return False

    if not found(entry.keys):
        return False
    if entry.selective and any(k.strip() for k in entry.secondary_keys):
        return found(entry.secondary_keys)
    return True


def _strip_decorators(content: str) -> str:
    """V3 decorators (`@@name value` lines at the top) steer matching; they are not prompt text."""
    lines = content.replace("\r\n", "\n").split("\n")
    while lines and lines[0].startswith("@@"):
        lines.pop(0)
    return "\n".join(lines).strip()
