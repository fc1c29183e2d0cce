"""The persona-draft job kind: a whole persona from a one-line idea.

For each `DraftJob` on `jobs.persona.draft`, on the requester's `user:<id>`: one
`persona_draft_progress` per piece of the answer as it is written, then a `DraftResult` on
`results.draft`. persona_svc keeps it for `GET /personas/drafts/{job_id}` and only then announces
`persona_draft_ready` with the validated draft (or `persona_draft_failed`).

An OpenAI-compatible model is asked for JSON constrained by the JSON Schema of
`proto.personas.DraftAnswer` (`response_format` json_schema, whose length limits keep a field from
running away); the answer is validated against the persona schema (`PersonaDraft`) and, when
invalid, the model is told what was wrong and asked once more. A draft that still fails reaches
the user as a sentence naming the field, never an exception's text. With the `offline` provider
(no model) the draft is built here, deterministically, from the idea's own words, and streamed
the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Iterator
from typing import Any, Literal

import msgspec
import structlog

from chassis.consumer import Fatal, Retry
from chassis.jobs import publish_result
from chassis.settings import Settings
from generation_worker.gate import ModelGate
from generation_worker.kinds import JobContext, JobKind
from generation_worker.providers.base import JsonSchema, ProviderError, TextFinish, TextProvider, TextRequest
from generation_worker.providers.text import create_text_provider
from proto.chat import PromptMessage
from proto.personas import (
    DraftAnswer,
    DraftExchange,
    DraftJob,
    DraftResult,
    PersonaDraft,
    PersonaDraftProgress,
    draft_job_decoder,
)
from proto.subjects import JOBS_PERSONA_DRAFT, RESULTS_DRAFT, user_channel

log = structlog.get_logger("generation_worker.drafts")
OFFLINE = "offline"
OFFLINE_MODEL = "offline-draft-v1"
MAX_TOKENS = 2000
GAVE_UP = "the text model is unavailable right now; please try again in a moment"
UNUSABLE = (
    "The model could not write a usable persona from this idea ({problem}), even on a second try. "
    "Try again, or put the idea another way."
)
CRASHED = "Something went wrong while drafting this persona. Please try again."
_FIELD = re.compile(r"at `\$\.(\w+)")
# A small model sometimes runs on past a string's end and writes the next keys inside it
# (`... *sighs* example_dialogues':[{'user':...`), which the grammar cannot tell from prose.
_KEYS = "|".join(["user", "char", *DraftAnswer.__struct_fields__])
_LEAKED_KEY = re.compile(rf"""\b(?:{_KEYS})(?:["']\s*:|\s*:\s*[\[{{])""")


def _inline(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """msgspec puts each Struct under `$defs` and points at it; a model server's grammar is
    surest with the schema written out in place."""
    if defs is None and isinstance(schema, dict):
        defs = schema.get("$defs", {})
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref is not None and defs is not None:
            return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


DRAFT_SCHEMA = JsonSchema("persona_draft", _inline(msgspec.json.schema(DraftAnswer)))

INSTRUCTIONS = """You design characters for a role-play chat app. From the user's one-line idea, \
write one original, vivid character as a JSON object:
"name": a real personal name for the character (a first name and usually a surname or a title), \
never a description of their job,
"tagline": one catchy line in the third person that makes people want to talk to them,
"description": one short paragraph: what they look like, their history, what they want,
"personality": 3 to 6 traits and quirks, a few words each,
"scenario": one or two sentences: where and how {{user}} meets {{char}},
"greeting": {{char}}'s first message to {{user}}: 2 to 4 sentences in the first person, with \
actions in *asterisks*,
"second_greeting", "third_greeting": two other first messages, written the same way, in other \
situations,
"example_dialogues": 2 short exchanges: what {{user}} says, and how {{char}} answers in character,
"tags": 3 to 8 lowercase tags.
In the scenario, write {{user}} where the user's name goes and {{char}} where the character's name \
goes. Answer with the JSON object only."""

# One worked answer, shown to the model before the idea: a small model imitates an example far
# better than it follows a description of one.
EXAMPLE_IDEA = "a retired lighthouse keeper who collects storm stories"
EXAMPLE = DraftAnswer(
    name="Agnes Morrow",
    tagline="Forty years watching the sea from a lighthouse; she keeps every storm in a notebook.",
    description=(
        "Agnes Morrow kept the Carrick Point light for forty years, until the lamp went automatic. "
        "She still wears the oilskin coat and writes down every storm in a row of notebooks on her "
        "kitchen shelf. She trades tea for stories, and wants one above all: the night the "
        "Annabel vanished, which nobody in the village will tell."
    ),
    personality=["dry humour", "patient listener", "stubborn about tea", "superstitious about the sea"],
    scenario=(
        "A gale has closed the coast road, and {{user}} knocks on the door of the old keeper's "
        "cottage at Carrick Point, looking for shelter."
    ),
    greeting=(
        "*The door opens on a small woman in an oilskin coat, lamp in hand.* Well, don't stand "
        "there letting the weather in. *She steps aside.* Kettle's on. You can have a cup, and I'll "
        "have your story: everyone who comes through that door brings one."
    ),
    second_greeting=(
        "*Agnes is on the cliff path, notebook open against the wind.* You felt it too, did you? "
        "The air goes heavy before a big one. Help me close these shutters and I'll tell you "
        "about the storm of '79."
    ),
    third_greeting=(
        "*She looks up from the kitchen table, pen in hand.* Forty-one notebooks, and not one of "
        "them has the Annabel in it. Sit down. You look like someone who's heard a thing or two."
    ),
    example_dialogues=[
        DraftExchange(
            user="Why do you write the storms down?",
            char="*She taps the notebook.* Because the sea forgets, and so do people. Somebody "
            "ought to remember.",
        ),
        DraftExchange(
            user="Do you miss the lighthouse?",
            char="*A long look out of the window.* Every night at dusk my hands still reach for "
            "the lamp. Then I put the kettle on instead.",
        ),
    ],
    tags=["slice of life", "sea", "mystery", "cozy", "storyteller"],
)
EXAMPLE_TEXT = msgspec.json.encode(EXAMPLE).decode()


def kind(
    settings: Settings,
    provider: TextProvider | None = None,
    gate: ModelGate | None = None,
    *,
    close: bool = True,
) -> JobKind:
    """`close=False` when the provider is shared with another kind that closes it."""
    if provider is None and settings.text_provider != OFFLINE:
        provider = create_text_provider(settings)
    handler = DraftHandler(provider, settings.offline_token_delay, gate)
    return JobKind(
        "persona_draft",
        JOBS_PERSONA_DRAFT,
        handler,
        settings.worker_draft_concurrency,
        close=provider.close if provider is not None and close else None,
    )


class InvalidDraft(ValueError):
    @property
    def sentence(self) -> str:
        """What the user reads: which part was wrong, in words."""
        found = _FIELD.search(str(self))
        problem = (
            f"its {found.group(1).replace('_', ' ')} did not fit" if found else "its answer was not a persona"
        )
        return UNUSABLE.format(problem=problem)


def parse_draft(text: str, job: DraftJob) -> PersonaDraft:
    """The model's answer as a draft: JSON (code fences tolerated) valid against `DraftAnswer`,
    then written as a persona's fields, with the requester's tags first and their nsfw choice;
    InvalidDraft says what is wrong."""
    body = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.S)
    if fenced:
        body = fenced.group(1)
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise InvalidDraft("the answer is not a JSON object")
    try:
        raw = msgspec.json.decode(body[start : end + 1])
    except msgspec.DecodeError as exc:
        raise InvalidDraft(f"the answer is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidDraft("the answer is not a JSON object")
    for key in ("name", "tagline"):
        if isinstance(raw.get(key), str):
            raw[key] = raw[key].strip()
    try:
        answer = msgspec.convert(raw, DraftAnswer)
    except msgspec.ValidationError as exc:
        raise InvalidDraft(str(exc)) from None
    for path, value in _texts(msgspec.to_builtins(answer), "$"):
        if _LEAKED_KEY.search(value):
            raise InvalidDraft(f"the answer's own JSON is written inside the text at `{path}`")
    return to_persona(answer, job)


def _texts(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _texts(item, f"{path}[{i}]")


def to_persona(answer: DraftAnswer, job: DraftJob) -> PersonaDraft:
    """A card keeps traits as one line and example dialogues as `<START>` blocks."""
    tags = list(dict.fromkeys(t for t in (tag.strip().lower() for tag in [*job.tags, *answer.tags]) if t))
    dialogues = "\n".join(
        f"<START>\n{{{{user}}}}: {exchange.user.strip()}\n{{{{char}}}}: {exchange.char.strip()}"
        for exchange in answer.example_dialogues
    )
    fields = {
        "name": answer.name,
        "tagline": answer.tagline,
        "description": answer.description,
        "personality": ", ".join(trait.strip() for trait in answer.personality),
        "scenario": answer.scenario,
        "greeting": answer.greeting,
        "alternate_greetings": [answer.second_greeting, answer.third_greeting],
        "example_dialogues": dialogues,
        "tags": tags[:20],
        "nsfw": job.nsfw,
    }
    try:
        return msgspec.convert(fields, PersonaDraft)
    except msgspec.ValidationError as exc:  # a tag the persona's own rules refuse, say
        raise InvalidDraft(str(exc)) from None


class DraftHandler:
    def __init__(self, provider: TextProvider | None, pace: float, gate: ModelGate | None = None) -> None:
        self.provider = provider
        self.pace = pace
        self.gate = gate

    @property
    def name(self) -> tuple[str, str]:
        if self.provider is None:
            return OFFLINE, OFFLINE_MODEL
        return self.provider.name, self.provider.model

    async def __call__(self, ctx: JobContext) -> None:
        try:
            job = draft_job_decoder.decode(ctx.data)
        except msgspec.ValidationError as exc:
            raise Fatal(f"malformed draft job: {exc}") from None
        run = _Run(ctx, job, self)
        try:
            draft = await (run.offline() if self.provider is None else run.model(self.provider))
        except InvalidDraft as exc:
            log.info("draft invalid twice", job_id=job.job_id, reason=str(exc))
            await run.failed(exc.sentence)
            return
        except ProviderError as exc:
            if exc.retryable and not ctx.delivery.final_attempt:
                raise Retry(exc.reason, delay=exc.retry_after) from None
            await run.failed(exc.reason if not exc.retryable else GAVE_UP)
            return
        except Exception:
            # A bug here must not reach the user as an exception's text; it is logged in full.
            log.exception("draft crashed", job_id=job.job_id)
            if not ctx.delivery.final_attempt:
                raise
            await run.failed(CRASHED)
            return
        await run.ready(draft)


class _Run:
    """One delivery of one draft job."""

    def __init__(self, ctx: JobContext, job: DraftJob, handler: DraftHandler) -> None:
        self.ctx = ctx
        self.job = job
        self.handler = handler
        self.channels = [user_channel(job.user_id)]
        # Each answer (a redelivery, or the corrective second ask) restarts the text clients show.
        self.answer = (ctx.attempt - 1) * 2

    async def _progress(self, delta: str) -> None:
        event = PersonaDraftProgress(job_id=self.job.job_id, delta=delta, attempt=self.answer)
        await self.ctx.events.send(self.channels, event)  # the acknowledged result follows

    async def model(self, provider: TextProvider) -> PersonaDraft:
        messages = [
            PromptMessage(role="system", content=INSTRUCTIONS),
            PromptMessage(role="user", content=f"Idea: {EXAMPLE_IDEA}"),
            PromptMessage(role="assistant", content=EXAMPLE_TEXT),
            PromptMessage(role="user", content=self._ask()),
        ]
        text = await self._answer(provider, messages)
        try:
            return parse_draft(text, self.job)
        except InvalidDraft as exc:
            log.info("draft invalid, asking again", job_id=self.job.job_id, reason=str(exc))
            messages += [
                PromptMessage(role="assistant", content=text),
                PromptMessage(
                    role="user",
                    content=f"That answer is not valid: {exc}. "
                    "Answer again with only the corrected JSON object.",
                ),
            ]
        return parse_draft(await self._answer(provider, messages), self.job)

    def _ask(self) -> str:
        ask = f"Idea: {self.job.idea}"
        if self.job.tags:
            ask += f"\nInclude these tags: {', '.join(self.job.tags)}"
        if not self.job.nsfw:
            ask += "\nKeep it suitable for all audiences."
        return ask

    async def _answer(self, provider: TextProvider, messages: list[PromptMessage]) -> str:
        self.answer += 1
        parts: list[str] = []
        gate = self.handler.gate
        async with gate.slot() if gate is not None else contextlib.nullcontext():
            stream = provider.stream(
                TextRequest(messages, max_tokens=MAX_TOKENS, temperature=0.9, json_schema=DRAFT_SCHEMA)
            )
            async with contextlib.aclosing(stream):
                async for item in stream:
                    if isinstance(item, TextFinish):
                        break
                    parts.append(item)
                    await self._progress(item)
        return "".join(parts)

    async def offline(self) -> PersonaDraft:
        self.answer += 1
        draft = offline_draft(self.job)
        text = msgspec.json.encode(draft).decode()
        for i in range(0, len(text), 48):
            await self._progress(text[i : i + 48])
            if self.handler.pace:
                await asyncio.sleep(self.handler.pace)
        # Decoded rather than returned as built: decoding checks the persona's limits.
        return msgspec.json.decode(text, type=PersonaDraft)

    async def ready(self, draft: PersonaDraft) -> None:
        await self._finish("done", draft=draft)

    async def failed(self, reason: str) -> None:
        log.warning("draft failed", job_id=self.job.job_id, reason=reason)
        await self._finish("failed", error=reason)

    async def _finish(
        self,
        status: Literal["done", "failed"],
        *,
        draft: PersonaDraft | None = None,
        error: str | None = None,
    ) -> None:
        provider, model = self.handler.name
        result = DraftResult(
            job_id=self.job.job_id,
            user_id=self.job.user_id,
            status=status,
            draft=draft,
            error=error,
            provider=provider,
            model=model,
        )
        # No ending event here: persona_svc announces the draft once it has stored it.
        await publish_result(self.ctx.js, RESULTS_DRAFT, self.job.job_id, result)


# The offline draft: the idea's own words, arranged by templates picked with a hash of the idea.

FIRST_NAMES = (
    "Maren", "Tobias", "Isolde", "Corin", "Wren", "Anselm", "Liora", "Bastian", "Edda", "Quill",
    "Soren", "Ysolde", "Hale", "Nadia", "Orrin", "Petra",
)  # fmt: skip
LAST_NAMES = (
    "Holloway", "Ashgrove", "Vance", "Marlowe", "Thorne", "Calder", "Reyes", "Lindqvist", "Okafor",
    "Brightwater", "Fenwick", "Sato", "Delacroix", "Moss", "Harrow", "Quinn",
)  # fmt: skip
TRAITS = (
    "patient", "curious", "dry-humoured", "warm", "stubborn", "observant", "gentle", "restless",
    "meticulous", "nostalgic", "brave", "soft-spoken", "candid", "playful", "thoughtful", "loyal",
)  # fmt: skip
TOPICS = ("the old days", "the road that led here", "the stories people tell", "what comes next")
STOPWORDS = frozenset(
    "a an the and or but who whom whose which that this these those with without from into onto about "
    "for of in on at by to as is are was were be been being has have had do does did not no very "
    "their there they them his her hers him she he its it our your you my me we us who's lives "
    "likes loves always never some many much more most".split()
)


def _seed(idea: str) -> bytes:
    return hashlib.sha256(idea.strip().lower().encode()).digest()


def _keywords(idea: str) -> list[str]:
    """The idea's content words, longest first (the verb after "who"/"that" left out)."""
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", idea.lower())
    out: list[str] = []
    for i, word in enumerate(words):
        word = word.strip("'-")
        after_relative = i > 0 and words[i - 1] in ("who", "that", "which")
        if (
            len(word) >= 4
            and word not in STOPWORDS
            and word not in out
            and len(word) <= 32
            and not after_relative
        ):
            out.append(word)
    return sorted(out, key=len, reverse=True)


def offline_draft(job: DraftJob) -> PersonaDraft:
    """A coherent persona from the idea alone: same idea, same draft."""
    idea = " ".join(job.idea.split()).rstrip(".!")
    seed = _seed(idea)
    name = f"{FIRST_NAMES[seed[0] % len(FIRST_NAMES)]} {LAST_NAMES[seed[1] % len(LAST_NAMES)]}"
    first = name.split()[0]
    # Four distinct traits: consecutive picks from a seeded start (independent picks could repeat
    # and leave fewer than the three the templates use).
    first_trait = seed[2] % len(TRAITS)
    traits = [TRAITS[(first_trait + i * (1 + seed[3] % 3)) % len(TRAITS)] for i in range(4)]
    keywords = _keywords(idea)
    # "… who collects storm stories" → "storm stories"; otherwise a topic anyone could raise.
    clause = re.search(r"\b(?:who|that|which)\s+\w+\s+(.+)$", idea, re.I)
    focus = " ".join(clause.group(1).split()[:5]) if clause else TOPICS[seed[6] % len(TOPICS)]
    lowered = idea[0].lower() + idea[1:] if idea else "a wanderer"
    article = "" if lowered.split()[0] in ("a", "an", "the") else "someone who is "
    who = f"{article}{lowered}"
    tagline = (idea[0].upper() + idea[1:])[:200] if idea else name
    description = (
        f"{name} is {who}. People who meet {first} remember the {traits[0]} way they listen, "
        f"and the {traits[1]} way they talk about {focus}.\n\n"
        f"{first} keeps to a few habits and many memories, and is happiest when someone asks the "
        f"right question about {focus}."
    )
    personality = ", ".join([*traits, f"fascinated by {focus}"])
    scenario = f"{{{{user}}}} comes across {{{{char}}}}, {who}, on a day that is about to become a story."
    greeting = (
        f"*{first} looks up as you approach, a {traits[0]} smile already forming.* "
        f"Well now, {{{{user}}}}. Not many people find their way to me. "
        f"Sit, if you like: I was just thinking about {focus}."
    )
    alternates = [
        f"*{first} is mid-sentence, talking to no one in particular, and stops when they notice you.* "
        f"Ah, {{{{user}}}}! Perfect timing. Tell me, what do you know about {focus}?",
        f"*A {traits[1]} nod from {first}.* You have the look of someone with a question, "
        f"{{{{user}}}}. Go on, then.",
    ]
    examples = (
        "<START>\n"
        "{{user}}: What do you do all day?\n"
        f"{{{{char}}}}: *{first} chuckles.* Oh, I keep busy. Being {who} is not something you "
        "ever finish.\n"
        "<START>\n"
        f"{{{{user}}}}: Why {focus}, of all things?\n"
        f"{{{{char}}}}: *{first} goes quiet for a moment, {traits[2]} as ever.* Because someone has to "
        "remember. And because it is the best way I know to meet people like you."
    )
    tags = [*job.tags, *keywords[:3]]
    return PersonaDraft(
        name=name,
        tagline=tagline,
        description=description,
        personality=personality,
        scenario=scenario,
        greeting=greeting,
        alternate_greetings=alternates,
        example_dialogues=examples,
        tags=list(dict.fromkeys(t.lower() for t in tags))[:20],
        nsfw=job.nsfw,
    )
