"""The persona-draft job kind: offline drafts, and an OpenAI-compatible model asked for JSON,
validated, and asked once more when its answer is invalid."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats
import pytest
from nats.js import JetStreamContext, api
from starlette.requests import Request
from starlette.responses import Response

from chassis.jobs import publish_job
from generation_worker import drafts
from generation_worker.app import create_app
from generation_worker.providers.openai_text import OpenAITextProvider
from proto.personas import DraftAnswer, DraftJob, DraftResult, PersonaDraft, draft_result_decoder
from proto.subjects import JOBS_PERSONA_DRAFT, RESULTS_DRAFT, STREAM_RESULTS
from tests.support.mesh import Mesh
from tests.support.openai_standin import OpenAIStandIn
from tests.support.sse import stored_events

IDEA = "a retired lighthouse keeper who collects storm stories"


def draft_json(**over: Any) -> str:
    """An answer as the model is asked to write it (`DraftAnswer`)."""
    draft = {
        "name": "Maren Holloway",
        "tagline": "She remembers every storm the coast has had",
        "description": "Maren kept the Saltmarsh light for forty years, and now keeps its stories: "
        "every storm, every wreck, every sailor who came home and every one who did not.",
        "personality": ["gruff", "kind under it", "superstitious"],
        "scenario": "{{user}} shelters in the lighthouse from a gale.",
        "greeting": "*Maren squints at {{user}} from the doorway.* Shut the door, you're letting the sea in.",
        "second_greeting": "*Maren pours tea without asking whether you want any.*",
        "third_greeting": "*Maren points at the sky over the harbour.* That one's coming here.",
        "example_dialogues": [
            {"user": "Hello there", "char": "Hmph. Wipe your boots first."},
            {"user": "Any storms today?", "char": "*She sniffs the air.* By nightfall, mark me."},
        ],
        "tags": ["Maritime", "storms", "cozy"],
    }
    draft.update(over)
    return json.dumps(draft)


def pieces(text: str, size: int = 17) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class ScriptedModel(OpenAIStandIn):
    """The OpenAI stand-in answering each request with the next scripted text, streamed."""

    answers: list[str] = field(default_factory=list)

    async def _completions(self, request: Request) -> Response:
        if self.answers:
            self.tokens = pieces(self.answers.pop(0))
        return await super()._completions(request)


@pytest.fixture
async def js(stack: Mesh) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(stack.settings.nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def next_result(js: JetStreamContext) -> DraftResult:
    sub = await js.pull_subscribe(
        RESULTS_DRAFT,
        durable=None,
        stream=STREAM_RESULTS,
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, deliver_policy=api.DeliverPolicy.ALL),
    )
    try:
        msgs = await sub.fetch(1, timeout=30)
        return draft_result_decoder.decode(msgs[0].data)
    finally:
        await sub.unsubscribe()


async def user_events(js: JetStreamContext, user_id: str) -> list[dict[str, Any]]:
    """Every event stored for the user so far (the worker publishes its progress before the result)."""
    return await stored_events(js, f"events.user.{user_id}")


def job(**over: Any) -> DraftJob:
    fields: dict[str, Any] = {"job_id": str(uuid.uuid4()), "user_id": uuid.uuid4().hex, "idea": IDEA}
    fields.update(over)
    return DraftJob(**fields)


async def start_model_worker(stack: Mesh, model: ScriptedModel) -> OpenAITextProvider:
    server = await stack.server(model.app())
    provider = OpenAITextProvider(base_url=f"{server.url}/v1", api_key="sk-test", model="gpt-test")
    settings = msgspec.structs.replace(stack.settings, text_provider="openai")
    await stack.app(create_app(settings, kinds=[drafts.kind(settings, provider)]))
    return provider


async def test_offline_drafts_are_deterministic_streamed_and_valid(stack: Mesh, js: JetStreamContext) -> None:
    settings = msgspec.structs.replace(stack.settings, offline_token_delay=0.0)
    await stack.app(create_app(settings, kinds=[drafts.kind(settings)]))
    sent = job(tags=["Cozy"])
    await publish_job(js, JOBS_PERSONA_DRAFT, sent.job_id, sent)
    result = await next_result(js)
    assert (result.job_id, result.status, result.provider) == (sent.job_id, "done", "offline")
    assert result.draft == drafts.offline_draft(sent), "same idea, same draft"
    draft = result.draft
    assert draft is not None and draft.tags[0] == "cozy" and len(draft.alternate_greetings) == 2
    assert "retired lighthouse keeper who collects storm stories" in draft.description
    assert "storm stories" in draft.greeting and "{{user}}" in draft.greeting
    other = drafts.offline_draft(job(idea="a grumpy wizard who hates mornings"))
    assert other.name != draft.name or other.description != draft.description
    # Progress goes out unacknowledged on EVENTS, the result acknowledged on RESULTS: the last
    # chunks may be stored a moment after the result is.
    async with asyncio.timeout(10):
        while True:
            events = await user_events(js, sent.user_id)
            progress = [e for e in events if e["event"] == "persona_draft_progress"]
            text = "".join(e["delta"] for e in progress)
            try:
                json.loads(text)
                break
            except json.JSONDecodeError:
                await asyncio.sleep(0.05)
    assert len(progress) > 5 and {e["attempt"] for e in progress} == {1}
    assert msgspec.convert(json.loads(text), PersonaDraft) == draft
    # The ready event is persona_svc's, once it has stored the draft (tests/persona_svc).
    assert progress == events


async def test_model_is_asked_for_json_and_asked_again_once_when_invalid(
    stack: Mesh, js: JetStreamContext
) -> None:
    model = ScriptedModel(gap=0.0, answers=[draft_json(greeting=""), "```json\n" + draft_json() + "\n```"])
    await start_model_worker(stack, model)
    sent = job(tags=["cozy"], nsfw=False)
    await publish_job(js, JOBS_PERSONA_DRAFT, sent.job_id, sent)
    result = await next_result(js)
    assert result.status == "done" and result.provider == "openai" and result.model == "gpt-test"
    draft = result.draft
    assert draft is not None and draft.name == "Maren Holloway"
    # The requester's tags come first, the model's are lower-cased, once each; their nsfw choice.
    assert draft.tags == ["cozy", "maritime", "storms"] and draft.nsfw is False
    # Traits, greetings and example exchanges are kept as a card keeps them.
    assert draft.alternate_greetings == [
        "*Maren pours tea without asking whether you want any.*",
        "*Maren points at the sky over the harbour.* That one's coming here.",
    ]
    assert draft.personality == "gruff, kind under it, superstitious"
    assert draft.example_dialogues == (
        "<START>\n{{user}}: Hello there\n{{char}}: Hmph. Wipe your boots first.\n"
        "<START>\n{{user}}: Any storms today?\n{{char}}: *She sniffs the air.* By nightfall, mark me."
    )
    first, second = (r["body"] for r in model.requests)
    # Constrained by the JSON Schema of the draft's proto Struct, length limits included.
    schema = first["response_format"]["json_schema"]["schema"]
    assert first["response_format"]["type"] == "json_schema" and first["stream"] is True
    assert schema == drafts.DRAFT_SCHEMA.schema and schema["properties"]["description"]["maxLength"] == 700
    assert schema["properties"]["greeting"]["minLength"] == 60 and "$ref" not in json.dumps(schema)
    # A worked example first, then the idea.
    example = msgspec.json.decode(first["messages"][2]["content"], type=DraftAnswer)
    assert first["messages"][2]["role"] == "assistant" and example == drafts.EXAMPLE
    assert IDEA in first["messages"][-1]["content"] and "cozy" in first["messages"][-1]["content"]
    correction = second["messages"][-1]["content"]
    assert (
        second["messages"][-2]["role"] == "assistant"
        and "greeting" in correction
        and "not valid" in correction
    )
    progress = [e for e in await user_events(js, sent.user_id) if e["event"] == "persona_draft_progress"]
    assert [e["attempt"] for e in progress][0] == 1 and [e["attempt"] for e in progress][-1] == 2


async def test_a_second_invalid_answer_fails_the_draft(stack: Mesh, js: JetStreamContext) -> None:
    model = ScriptedModel(gap=0.0, answers=["I would love to help!", draft_json(tags="storms")])
    await start_model_worker(stack, model)
    sent = job()
    await publish_job(js, JOBS_PERSONA_DRAFT, sent.job_id, sent)
    result = await next_result(js)
    assert result.status == "failed" and result.draft is None and len(model.requests) == 2
    # A sentence naming the part that was wrong, not msgspec's error text.
    assert result.error is not None and "its tags did not fit" in result.error and "$." not in result.error
    # The failed event is persona_svc's, once it has stored the outcome (tests/persona_svc).
    assert not [e for e in await user_events(js, sent.user_id) if e["event"] == "persona_draft_failed"]


async def test_a_refused_request_fails_with_the_models_reason(stack: Mesh, js: JetStreamContext) -> None:
    model = ScriptedModel(gap=0.0, script=[400])
    await start_model_worker(stack, model)
    sent = job()
    await publish_job(js, JOBS_PERSONA_DRAFT, sent.job_id, sent)
    result = await next_result(js)
    assert result.status == "failed" and result.error is not None and "maximum context length" in result.error


def test_parse_draft_reports_what_is_wrong() -> None:
    sent = job()
    with pytest.raises(drafts.InvalidDraft, match="not a JSON object"):
        drafts.parse_draft("no braces here", sent)
    with pytest.raises(drafts.InvalidDraft, match="third_greeting"):
        drafts.parse_draft(draft_json(third_greeting="Hi."), sent)
    with pytest.raises(drafts.InvalidDraft, match="name"):
        drafts.parse_draft(draft_json(name="n" * 81), sent)
    # A field answered with a word is refused, and asked for again (a small model's habit).
    with pytest.raises(drafts.InvalidDraft, match="example_dialogues"):
        drafts.parse_draft(draft_json(example_dialogues="log"), sent)
    with pytest.raises(drafts.InvalidDraft, match="personality"):
        drafts.parse_draft(draft_json(personality=["grumpy"]), sent)
    # Or runs on past a string's end and writes the next keys inside it (seen from Qwen 1.5B).
    ran_on = "*She sighs at the forge.* example_dialogues':[{'user':'What do you make of the wind?"
    with pytest.raises(drafts.InvalidDraft, match="third_greeting") as caught:
        drafts.parse_draft(draft_json(third_greeting=ran_on), sent)
    assert "its third greeting did not fit" in caught.value.sentence
    with pytest.raises(drafts.InvalidDraft, match="second_greeting"):
        drafts.parse_draft(draft_json(second_greeting="*Waves.* example_dialogues:[{user:*He nods."), sent)
    assert drafts.parse_draft("Sure! " + draft_json() + " Enjoy.", sent).name == "Maren Holloway"


def test_offline_drafts_never_crash_whatever_the_idea() -> None:
    # One idea in forty once raised IndexError (fewer than three distinct traits).
    for n in range(400):
        sent = job(idea=f"idea number {n} about {'storms ' * (n % 5)}and {n * 7919 % 1000} lanterns")
        draft = drafts.offline_draft(sent)
        assert len(set(draft.personality.split(", ")[:4])) == 4
        assert msgspec.convert(msgspec.to_builtins(draft), PersonaDraft) == draft
