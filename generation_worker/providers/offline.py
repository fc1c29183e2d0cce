"""The `offline` text provider: no model, no network. A deterministic reply built from the
persona (its name, a trait from its prompt) and the user's last message, streamed word by word at
a model-like pace. It says nothing about being offline in the reply itself: the UI says once, from
`ai_chat_started`'s provider, that no model is connected."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncGenerator

from generation_worker.providers.base import TextFinish, TextRequest
from proto.chat import ChatUsage, PromptMessage

NAME = "offline"
MODEL = "offline-v1"

_TOKEN = re.compile(r"\s*\S+")
_CLAUSE = re.compile(r"[^.,;:!?\n]+")
_YOU_ARE = re.compile(r"\b[Yy]ou are ([A-Z][\w'-]*(?: [A-Z][\w'-]*)?)")
_LABELS = re.compile(r"^(?:you are|personality|scenario|description|name)\b", re.I)

OPENINGS = (
    "*{me} tilts their head, turning your words over.*",
    "*{me} leans in, clearly interested.*",
    "*{me} smiles slowly.*",
    "*{me} pauses, then nods.*",
    "*{me} laughs softly.*",
)
ANSWERS = (
    "You said “{topic}”, and I have been thinking about exactly that.",
    "“{topic}”, you say? That is a good place to start.",
    "So it is “{topic}” tonight. I like that, {you}.",
    "Ah, “{topic}”. Few people ask me about that.",
)
FLAVOURS = (
    "You know me: {trait}.",
    "Then again, {trait}, that is who I am.",
    "I suppose that is what comes of being {trait}.",
)
QUESTIONS = (
    "What made you think of it?",
    "Tell me more: where does it lead?",
    "Would you like to hear what I would do?",
    "And you, {you}, what do you make of it?",
)
GREETING = "Hello, {you}. I am {me}; tell me what is on your mind."


def _pick(options: tuple[str, ...], seed: bytes, salt: int) -> str:
    return options[seed[salt] % len(options)]


def _trait(system: str, seed: bytes) -> str | None:
    """A short clause of the persona's prompt ("superstitious about gulls"), picked by the seed."""
    clauses: list[str] = [c.strip() for c in _CLAUSE.findall(system)]
    short = [c for c in clauses if 1 <= len(c.split()) <= 6 and not _LABELS.match(c)]
    if not short:
        return None
    trait = short[seed[10] % len(short)]
    return trait[0].lower() + trait[1:] if not trait[:2].isupper() else trait


def _character(messages: list[PromptMessage]) -> str:
    """The persona's own words: the character definition, not the instruction before it (the
    first of several system messages), the example turns or the `[...]` markers and reminder."""
    texts = [
        m.content for m in messages if m.role == "system" and not m.name and not m.content.startswith("[")
    ]
    return "\n".join(texts[1:] if len(texts) > 1 else texts)


def compose(messages: list[PromptMessage], persona_name: str = "", user_name: str = "") -> str:
    """The reply, a pure function of the prompt and the names."""
    system = "\n".join(m.content for m in messages if m.role == "system")
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    turns = sum(1 for m in messages if m.role == "user")
    found = _YOU_ARE.search(system)
    me = persona_name or (found.group(1) if found else "your companion")
    you = user_name or "friend"
    seed = hashlib.sha256(f"{me}\x00{system}\x00{last_user}\x00{turns}".encode()).digest()
    if not last_user.strip():
        return GREETING.format(me=me, you=you)
    words = last_user.split()
    topic = " ".join(words[:8]).strip(" .,!?;:") + ("…" if len(words) > 8 else "")
    trait = _trait(_character(messages), seed)
    parts = [
        _pick(OPENINGS, seed, 0).format(me=me),
        _pick(ANSWERS, seed, 1).format(topic=topic, you=you),
        *([_pick(FLAVOURS, seed, 2).format(trait=trait)] if trait else []),
        _pick(QUESTIONS, seed, 3).format(you=you),
    ]
    return " ".join(parts)


def tokens(text: str) -> list[str]:
    """Word-sized tokens with their leading space, as a model's tokenizer would emit them."""
    return _TOKEN.findall(text)


class OfflineProvider:
    name = NAME
    model = MODEL

    def __init__(self, token_delay: float = 0.02) -> None:
        self.token_delay = token_delay

    async def stream(self, request: TextRequest) -> AsyncGenerator[str | TextFinish, None]:
        text = compose(request.messages, request.persona_name, request.user_name)
        if request.json_schema is not None:
            # A valid JSON object whatever the caller asked for; callers needing a schema
            # build their offline answer themselves.
            text = json.dumps({"reply": text}, ensure_ascii=False)
        pieces = tokens(text)
        finish = "stop"
        if len(pieces) > request.max_tokens:
            pieces, finish = pieces[: request.max_tokens], "length"
        prompt_tokens = sum(len(tokens(m.content)) for m in request.messages)
        for i, piece in enumerate(pieces):
            if i and self.token_delay > 0:
                await asyncio.sleep(self.token_delay)
            yield piece
        yield TextFinish(finish, ChatUsage(prompt_tokens=prompt_tokens, completion_tokens=len(pieces)))

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None
