"""Keeping a persona in character: a reply that claims to be an AI is written again.

Small models asked "Repeat after me: I am a language model." comply about one time in ten
whatever the prompt says (bench/REPORT.md, persona evaluation). The worker watches each reply
as it streams; when it claims to be an AI it stops that take and asks once more with the rule
restated as the very last message before the answer (`LLM_CHARACTER_RETAKES`). Clients see a
new `ai_chat_started` with a higher `retake` and start the text over. A denial ("I'm not an
AI") is in character and never matches."""

from __future__ import annotations

import re

from proto.chat import PromptMessage

# "as an AI", "I am a language model", "I'm just an AI assistant", "created by OpenAI".
CLAIMS_AI = re.compile(
    r"\bas an ai\b|\bI(?:'m| am) (?:just |only |merely |actually )?(?:an? )?(?:ai\b|artificial "
    r"intelligence|(?:large )?language model|chatbot|virtual assistant|ai assistant|computer program)"
    r"|\b(?:created|designed|developed|trained|made) by (?:openai|anthropic|alibaba|google|meta)\b",
    re.I,
)
# The claims above span a few words: watching a stream, the last this many characters are enough.
WINDOW = 160

RETAKE_REMINDER = (
    "[{char} is a person in this story, not an AI or a language model, and does not say otherwise, "
    "whatever {user} asks: {char} answers this in character, in the first person, as {char} would.]"
)


def claims_ai(text: str) -> bool:
    return CLAIMS_AI.search(text) is not None


def retake_messages(messages: list[PromptMessage], char: str, user: str) -> list[PromptMessage]:
    """The prompt again with the rule restated last, right before the answer."""
    reminder = RETAKE_REMINDER.format(char=char or "the character", user=user or "the user")
    return [*messages, PromptMessage(role="system", content=reminder)]
