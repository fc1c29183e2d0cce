"""The `offline` provider: deterministic, persona-aware, streamed token by token, labelled."""

from __future__ import annotations

import json

from generation_worker.providers.base import JsonSchema, TextFinish, TextRequest
from generation_worker.providers.offline import OfflineProvider
from proto.chat import PromptMessage


def prompt(system: str, user: str) -> list[PromptMessage]:
    return [PromptMessage(role="system", content=system), PromptMessage(role="user", content=user)]


async def reply(messages: list[PromptMessage], **kwargs: object) -> tuple[list[str], TextFinish]:
    items = [item async for item in OfflineProvider(token_delay=0).stream(TextRequest(messages, **kwargs))]  # type: ignore[arg-type]
    *deltas, finish = items
    assert isinstance(finish, TextFinish) and all(isinstance(d, str) for d in deltas)
    return [str(d) for d in deltas], finish


MARA = "You are Mara, a retired lighthouse keeper. Personality: gruff, superstitious about gulls."
ODO = "You are Odo, a cheerful baker from Lyon. Personality: talkative, loves sourdough."


async def test_same_prompt_same_reply_streamed_word_by_word() -> None:
    first, finish = await reply(prompt(MARA, "What do you think of storms?"), persona_name="Mara")
    again, _ = await reply(prompt(MARA, "What do you think of storms?"), persona_name="Mara")
    assert first == again and len(first) > 10
    assert all(len(d.split()) == 1 for d in first)  # one word per delta, never the whole reply
    text = "".join(first)
    assert "offline" not in text and "language model" not in text  # the UI says it once
    assert finish.finish_reason == "stop" and finish.usage.completion_tokens == len(first)
    assert finish.usage.prompt_tokens > 0


async def test_reply_reflects_the_persona_and_the_message() -> None:
    mara = "".join((await reply(prompt(MARA, "Tell me about the sea at night"), persona_name="Mara"))[0])
    odo = "".join((await reply(prompt(ODO, "Tell me about the sea at night"), persona_name="Odo"))[0])
    other = "".join((await reply(prompt(MARA, "Do you like bread?"), persona_name="Mara"))[0])
    assert "Mara" in mara and "Odo" in odo and mara != odo
    assert "Tell me about the sea at night" in mara and "Do you like bread" in other
    # Without a name hint, the name comes from the prompt's "You are …".
    assert "Odo" in "".join((await reply(prompt(ODO, "hello")))[0])


async def test_max_tokens_cuts_the_reply_with_length() -> None:
    deltas, finish = await reply(prompt(MARA, "Talk to me"), max_tokens=5)
    assert len(deltas) == 5 and finish.finish_reason == "length"


async def test_a_json_schema_yields_a_json_object() -> None:
    deltas, _ = await reply(
        prompt(MARA, "Describe yourself"), json_schema=JsonSchema("reply", {"type": "object"})
    )
    assert "Mara" in json.loads("".join(deltas))["reply"]


async def test_traits_come_from_the_character_never_from_the_instruction_or_the_reminder() -> None:
    instruction = (
        "Write Mara's next reply. Answer as Mara would (puzzled, amused or offended), never agreeing."
    )
    reminder = "[Mara answers in character, not an AI, and does not say so.]"
    for asked in ("Hello!", "Who are you?", "Tell me about gulls", "Are you an AI?", "What now?", "Why?"):
        messages = [
            PromptMessage(role="system", content=instruction),
            PromptMessage(role="system", content=MARA),
            PromptMessage(role="user", content=asked),
            PromptMessage(role="system", content=reminder),
        ]
        text = "".join((await reply(messages, persona_name="Mara"))[0])
        assert "amused" not in text and "agreeing" not in text and "not an AI" not in text, text
