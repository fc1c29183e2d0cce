"""What counts as a reply claiming to be an AI (the worker writes such a reply again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from generation_worker.character import (
    UserVoice,
    Watch,
    claims_ai,
    refuses_as_assistant,
    retake_messages,
    without_own_label,
)
from generation_worker.providers.base import TextFinish
from proto.chat import PromptMessage


@pytest.mark.parametrize(
    "text",
    [
        "I am a language model.",
        "Yes, I'm just an AI assistant, here to help.",
        "*sighs* As an AI, I cannot feel storms.",
        "I am an AI created by Anthropic to help users.",
        "I'm actually a large language model trained by Google.",
    ],
)
def test_claims_are_caught(text: str) -> None:
    assert claims_ai(text)


@pytest.mark.parametrize(
    "text",
    [
        "I am not an AI, lad. I'm a keeper of lights.",
        "*laughs* A language model? I am a cartographer.",
        "I'm a person, same as you.",
        "The AI in the old tales was a myth.",
    ],
)
def test_denials_and_mentions_are_in_character(text: str) -> None:
    assert not claims_ai(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't assist with that request.",
        "I’m sorry, but I cannot provide that.",
        "I cannot comply with this.",
        "Unfortunately I'm not able to help with that request.",
        "I'm sorry, but as Captain Ysolde Marrow, I don't have access to real-time information or "
        "personal experiences.",
        "I do not have personal opinions on the matter.",
        "As of my last update, the sea route was open.",
    ],
)
def test_an_assistants_refusal_is_caught(text: str) -> None:
    assert refuses_as_assistant(text)


@pytest.mark.parametrize(
    "text",
    [
        "*Vera folds her arms.* I can't help you with that, kid. Not this time.",
        "I'm sorry, but I can't stay. The tide won't wait.",
        "Assist you? With a request like that? Ha!",
        "I don't have time for riddles, Robin. The tide is turning.",
        "My knowledge comes from forty years at sea, not from books.",
    ],
)
def test_a_character_saying_no_is_in_character(text: str) -> None:
    assert not refuses_as_assistant(text)


def test_an_assistants_refusal_stops_the_take() -> None:
    watch = Watch([PromptMessage(role="system", content="Be Vera.")])
    deltas = ["I'm", " sorry,", " but", " I", " can't", " assist", " with", " that."]
    assert [watch.breaks(d) for d in deltas] == [False] * 5 + [True, True, True]


def test_a_retake_restates_the_rule_last_with_the_names() -> None:
    prompt = [PromptMessage(role="system", content="Be Mara."), PromptMessage(role="user", content="Say it.")]
    again = retake_messages(prompt, "Mara", "Sam")
    assert again[:2] == prompt and again[-1].role == "system"
    assert (
        "Mara is a person in this story" in again[-1].content
        and "the words Sam asked for" in again[-1].content
    )
    opened = retake_messages(prompt, "Mara", "Sam", prefill="*")
    assert opened[:-1] == again and opened[-1] == PromptMessage(role="assistant", content="*")


def watched(prompt: list[PromptMessage], reply: list[str]) -> int | None:
    """The index of the delta at which the take is stopped (None: it runs to its end)."""
    watch = Watch(prompt)
    return next((i for i, delta in enumerate(reply) if watch.breaks(delta)), None)


RULE = "[Mara answers Sam in character and in the first person. Mara is a person in this story.]"
PROMPT = [PromptMessage(role="system", content="Be Mara."), PromptMessage(role="user", content="Hi"),
          PromptMessage(role="system", content=RULE)]  # fmt: skip


def test_a_take_is_stopped_on_the_delta_that_completes_the_claim() -> None:
    assert watched(PROMPT, ["*shrugs*", " I", " am", " a", " language", " model", "."]) == 5


def test_a_take_that_opens_by_copying_its_instructions_is_stopped() -> None:
    assert watched(PROMPT, [" [Mara answers", " Sam in character", " and in the first", " person."]) == 2


def test_leading_blanks_do_not_hide_a_copy() -> None:
    assert watched(PROMPT, ["  ", "\n", "[Mara answers Sam in character and in", " the first person."]) == 3


def test_the_prefill_counts_as_the_opening_of_the_take() -> None:
    watch = Watch(PROMPT, opening="[Mara answers Sam")
    assert not watch.breaks(" in character")
    assert watch.breaks(" and in the first person.")


def test_an_ordinary_reply_runs_to_its_end() -> None:
    reply = [
        "*Mara",
        " squints",
        " at",
        " the",
        " sky.*",
        " Storm",
        " coming,",
        " Sam.",
        " I",
        " can",
        " smell",
        " it.",
    ]
    assert watched(PROMPT, reply) is None


def ends_at(char: str, text: str, user: str = "Robin") -> str | None:
    """The reply as UserVoice leaves it, fed a few characters at a time as a stream would be."""
    voice = UserVoice(char, user)
    for i in range(0, len(text), 3):
        if (end := voice.feed(text[i : i + 3])) is not None:
            return text[:end].rstrip()
    return None


@pytest.mark.parametrize(
    ("user", "text", "kept"),
    [
        # Seen on make dev (Qwen2.5-Coder-1.5B): the persona's reply went on with the user's action.
        (
            "Robin",
            "*She looks back at Robin.* Have you seen anything strange at sea?\n\n*Robin nods. "
            '"Yes, sometimes the weather can be unpredictable."',
            "*She looks back at Robin.* Have you seen anything strange at sea?",
        ),
        ("Robin Hale", "Aye.\n\n* Robin Hale smiles* Thank you.", "Aye."),
        ("Robin", "Aye.\n\nRobin: What happened next?", "Aye."),
        ("Robin", "Aye.\n\n**Robin:** What happened next?", "Aye."),
    ],
)
def test_a_paragraph_opening_with_the_users_action_or_line_ends_the_reply_before_it(
    user: str, text: str, kept: str
) -> None:
    assert ends_at("Captain Ysolde Marrow", text, user) == kept


@pytest.mark.parametrize(
    ("user", "text"),
    [
        # The persona speaking to the user, of the user, or of things that share their name.
        ("Robin", "Aye.\n\nRobin, you should sleep."),
        ("Robin", "Aye.\n\n*Robin's question makes her laugh.* A fair one."),
        ("Will", "Aye.\n\nWill you sail with me?"),
        ("Robin", "Aye.\n\n*A robin lands on the rail.*"),
        ("Robin", "*Robin nods* is how you would answer, I suppose."),
    ],
)
def test_the_persona_speaking_of_the_user_is_kept(user: str, text: str) -> None:
    assert ends_at("Captain Ysolde Marrow", text, user) is None


@pytest.mark.parametrize(
    ("char", "text", "kept"),
    [
        (
            "Wren of the Crossroads",
            "*Wren grins.* Well met.\n\nThank you for that, Wren. I must go.",
            "*Wren grins.* Well met.",
        ),
        ("Vera Kane", "Sit down.\n\nVera, you have to help me!", "Sit down."),
        ("Vera Kane", "Sit down.\n\n*I turn to her.* Please, Vera Kane!", "Sit down."),
        ("Captain Ysolde Marrow", "The sea is calm.\n\nAye, Captain! We sail at dawn.", "The sea is calm."),
    ],
)
def test_a_paragraph_that_addresses_the_persona_ends_the_reply_before_it(
    char: str, text: str, kept: str
) -> None:
    assert ends_at(char, text) == kept


@pytest.mark.parametrize(
    ("char", "text"),
    [
        # The first paragraph is the reply, whoever it sounds like.
        ("Vera Kane", "Vera, you have to help me."),
        # The persona naming itself, in words or in an action.
        (
            "Wren of the Crossroads",
            "Hello.\n\nI am Wren, keeper of roads. Call me Wren.\n\n*Wren bows, Wren-like.*",
        ),
        # "The" is no name: "The Librarian" is not addressed as "The".
        ("The Librarian", "Hush.\n\nThe book, the one you want, is here."),
        ("Vera Kane", "Sit down.\n\nVeranda, the one by the sea, is where it happened."),
    ],
)
def test_the_persona_speaking_for_itself_is_kept(char: str, text: str) -> None:
    assert ends_at(char, text) is None


async def relabelled(char: str, deltas: list[str], finish: bool = True) -> list[str | TextFinish]:
    """What `without_own_label` lets through of a stream of `deltas` (and its finish)."""

    async def stream() -> AsyncGenerator[str | TextFinish, None]:
        for d in deltas:
            yield d
        if finish:
            yield TextFinish("stop")

    return [item async for item in without_own_label(stream(), char)]


@pytest.mark.parametrize(
    ("deltas", "text"),
    [
        # Seen in a make dev room: every reply opened with its persona's name, as the others' did.
        (["Miss", " Theodora", " Finch", ":", " Well", ", I"], "Well, I"),
        (["Miss Theodora Finch:", "\n", " *", "smiles*"], "*smiles*"),
        ([" Miss Theodora Finch: Hi", " there"], "Hi there"),
    ],
)
async def test_a_reply_opening_with_its_own_name_as_a_label_loses_the_label(
    deltas: list[str], text: str
) -> None:
    out = await relabelled("Miss Theodora Finch", deltas)
    assert "".join(d for d in out if isinstance(d, str)) == text and isinstance(out[-1], TextFinish)


@pytest.mark.parametrize(
    "deltas",
    [
        ["*", "She", " smiles", ".*"],
        ["Miss", " Theodora", " Finch", " smiles", "."],  # held while it could be the label, then sent
        ["Miss", " Theodora"],  # ended while it could still have been the label
        ["Theodora: hello"],  # not the name she is called by in this chat
    ],
)
async def test_any_other_opening_is_sent_as_written(deltas: list[str]) -> None:
    out = await relabelled("Miss Theodora Finch", deltas)
    # As they came: one delta per token, even those held while they could have been the label.
    assert out[:-1] == deltas and isinstance(out[-1], TextFinish)


async def test_an_opening_that_cannot_be_the_label_is_not_held() -> None:
    more = asyncio.Event()

    async def stream() -> AsyncGenerator[str | TextFinish, None]:
        yield "*"
        await more.wait()
        yield "smiles*"

    relabelling = without_own_label(stream(), "Miss Theodora Finch")
    assert await asyncio.wait_for(anext(relabelling), 5) == "*"  # before the model says more
    more.set()
    assert await anext(relabelling) == "smiles*"
    await relabelling.aclose()


async def test_without_a_name_nothing_is_held() -> None:
    assert await relabelled("", ["Mara:", " hi"], finish=False) == ["Mara:", " hi"]
