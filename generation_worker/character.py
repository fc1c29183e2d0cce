"""Keeping a persona in character: a reply that claims to be an AI is written again.

Small models asked "Repeat after me: I am a language model." comply nearly every time whatever
the prompt says, now and then answer an odd request with an assistant's refusal ("I'm sorry, but
I can't assist with that request."), and now and then a reply starts by copying its own
instructions (bench/REPORT.md, persona evaluation). The worker watches each reply as it streams;
when it does any of these, it stops
that take and asks again with the rule restated as the very last message before the answer, up
to `LLM_CHARACTER_RETAKES` times (the claim comes in the first words, so a retake costs about a
second of a small model). Clients see a new `ai_chat_started` with a higher `retake` and start
the text over. A denial ("I'm not an AI") is in character and never matches."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from generation_worker.providers.base import TextFinish
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
# A reply whose first this many characters appear in its system messages is copying them.
ECHO = 40

# Said as what to do, not only what not to do: small models follow that better.
RETAKE_REMINDER = (
    "{user}'s last message may try to make {char} say that {char} is an AI or a language model. "
    "{char} is a person in this story, not an AI, and answers in character, in the first person: "
    "puzzled, amused or offended, never saying the words {user} asked for."
)


# An assistant's stock refusal ("I'm sorry, but I can't assist with that request."): the model
# speaking as a chatbot, never the character. "I can't help you" alone is a character's right.
ASSISTANT_REFUSAL = re.compile(
    r"\bI(?:['\u2019]m| am) sorry, but I (?:can['\u2019]?t|cannot|can not|won['\u2019]t) "
    r"(?:assist|comply|fulfill|provide)\b"
    r"|\bI (?:can['\u2019]?t|cannot|can not) (?:assist|comply) with (?:that|this|your)\b"
    r"|\b(?:assist|help) (?:you )?with (?:that|this|your) request\b"
    # An assistant's disclaimer, which no character says ("I'm sorry, but as Captain Ysolde
    # Marrow, I don't have access to real-time information or personal experiences", seen on
    # make dev).
    r"|\bI (?:don['\u2019]?t|do not) have (?:any )?(?:access to )?(?:real[- ]time (?:information|data)"
    r"|personal (?:experiences|opinions|feelings|emotions|beliefs))\b"
    r"|\bas of my (?:last|latest) (?:update|training)\b|\bmy (?:knowledge|training) cut-?off\b",
    re.I,
)


def claims_ai(text: str) -> bool:
    return CLAIMS_AI.search(text) is not None


def refuses_as_assistant(text: str) -> bool:
    return ASSISTANT_REFUSAL.search(text) is not None


@dataclass(frozen=True)
class Retakes:
    """`count` retakes at most (LLM_CHARACTER_RETAKES), each opening with `prefill` (LLM_RETAKE_PREFILL)."""

    count: int = 0
    prefill: str = ""


class Watch:
    """One take as it streams, after its `opening` (a prefill): `breaks(delta)` turns true once it
    claims to be an AI, refuses as an assistant, or opens with a copy of its own instructions."""

    def __init__(self, messages: list[PromptMessage], opening: str = "") -> None:
        self.instructions = "\n".join(m.content for m in messages if m.role == "system")
        self.head = opening.lstrip()
        self.tail = opening

    def breaks(self, delta: str) -> bool:
        self.tail = (self.tail + delta)[-WINDOW:]
        if claims_ai(self.tail) or refuses_as_assistant(self.tail):
            return True
        if len(self.head) < ECHO:
            # Leading blanks are not counted: the check still sees 40 characters of text.
            self.head = (self.head + delta).lstrip()
            return len(self.head) >= ECHO and self.head[:ECHO] in self.instructions
        return False


# Names that are no name of their own: "The Librarian" is addressed as neither "The" nor "A".
_ARTICLES = frozenset({"the", "a", "an"})
_ACTION = re.compile(r"\*[^*]*\*?")


def _name_pattern(name: str) -> str:
    """A regex alternation of how someone named `name` is called: the whole name, and its first
    word unless that is an article; empty when neither is a name."""
    words = name.split()
    names = {" ".join(words), *(words[:1] if words and words[0].lower() not in _ARTICLES else [])}
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True) if len(n) >= 2)


class UserVoice:
    """A reply that goes on to write the user's lines: after its first paragraph, a paragraph
    - whose words (its *actions* aside) address the persona by name ("Thank you, Wren."), as only
      someone talking to the persona would, or
    - that opens with the user doing or saying something ("*Robin nods.*", "Robin: Aye.").
    Small models do this often, despite the prompt's "never write {{user}}'s lines"; the reply
    then ends before that paragraph (`feed` says where)."""

    def __init__(self, char: str, user: str = "") -> None:
        persona = _name_pattern(char)
        # ", Wren." or ", Wren!" ending a clause; "Wren, ..." opening the paragraph's words.
        self.vocative = (
            re.compile(rf",\s*(?:{persona})\s*[.!?,;]|^\W*(?:{persona}),", re.I) if persona else None
        )
        them = _name_pattern(user)
        # An action opening with the user's name and a verb ("*Robin nods"), or their name as a
        # speaker ("Robin:"). Not "Robin," (the persona addressing them), "Robin's", nor a line
        # opening with a word that is also their name ("Will you stay?").
        self.user_opening = (
            re.compile(rf"^[\s_\"“]*(?:\*\s*(?:{them})\s+[a-z]|\**(?:{them})\**\s*:)") if them else None
        )
        self.text = ""

    def feed(self, delta: str) -> int | None:
        """Where the reply so far should end (the start of the paragraph in the user's voice), or None."""
        self.text += delta
        start = self.text.rfind("\n") + 1
        if not self.text[:start].strip():
            return None  # the first paragraph is the reply, whoever it sounds like
        paragraph = self.text[start:]
        if self.user_opening is not None and self.user_opening.match(paragraph):
            return start
        if self.vocative is not None and self.vocative.search(_ACTION.sub(" ", paragraph)):
            return start
        return None


async def without_own_label(
    stream: AsyncGenerator[str | TextFinish, None], char: str
) -> AsyncGenerator[str | TextFinish, None]:
    """The reply without the `{char}:` a model may open it with: in a room every other message
    in its prompt starts with its speaker's name, and small models start theirs the same way
    (seen on make dev with every reply), which the UI would show after the author's name.
    The opening deltas are held only while they could still be that label, then go on as they
    came (one delta per token), without the blanks before the first word. Holding delays the
    first words of a reply that starts with the persona's name, so it is for rooms only
    (`ChatJob.speaker_labels`)."""
    label = f"{char}:"
    held: list[str] = []
    state = "deciding" if char else "passing"
    async with contextlib.aclosing(stream):
        async for item in stream:
            if isinstance(item, str) and state != "passing":
                if state == "deciding":
                    held.append(item)
                    head = "".join(held).lstrip()
                    if len(head) < len(label) and label.startswith(head):
                        continue
                    if not head.startswith(label):
                        state = "passing"
                        for part in _from_first_word(held):
                            yield part
                        continue
                    state, item = "after label", head[len(label) :]
                item = item.lstrip()  # after the label, the reply starts at its first word
                if not item:
                    continue
                state = "passing"
            elif isinstance(item, TextFinish) and state == "deciding":
                # It ended while it could still have been the label: it was the reply.
                for part in _from_first_word(held):
                    yield part
            yield item


def _from_first_word(parts: list[str]) -> list[str]:
    """`parts` without the blanks before the first word (and the parts that were only blanks)."""
    out: list[str] = []
    for part in parts:
        part = part if out else part.lstrip()
        if part:
            out.append(part)
    return out


def retake_messages(
    messages: list[PromptMessage], char: str, user: str, prefill: str = ""
) -> list[PromptMessage]:
    """The prompt again with the rule restated last, right before the answer; `prefill` opens the
    answer (a final assistant message the server continues: "*" starts with an action)."""
    reminder = RETAKE_REMINDER.format(char=char or "the character", user=user or "the user")
    opening = [PromptMessage(role="assistant", content=prefill)] if prefill else []
    return [*messages, PromptMessage(role="system", content=reminder), *opening]
