"""A real language model behind the mesh (SmolLM2 in llama.cpp's server, as `make dev` runs the
default model): a chat streamed token by token through the gateway, stop, a draft constrained by
its schema, and the model server dying mid-reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from chassis.settings import Settings
from generation_worker.app import create_app as create_worker
from generation_worker.chat import GAVE_UP
from generation_worker.drafts import DRAFT_SCHEMA
from persona_svc.app import create_app as create_persona
from proto.personas import PersonaDraft
from tests.support.mesh import Mesh, client
from tests.support.model import SMALL_MODEL, ModelServer, model_server
from tests.support.sse import SseEvent, SseStream, events_gateway, open_stream
from tests.support.users import User, sign_up

PERSONA = {
    "name": "Captain Mira Vance",
    "description": "Mira commands the airship Kestrel and has sailed the cloud seas for twenty years.",
    "personality": "bold, wry, loyal to her crew",
    "greeting": "*Mira looks up from her charts.* Welcome aboard the Kestrel.",
    "visibility": "private",
}


@pytest.fixture(scope="module")
async def model(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ModelServer]:
    async with model_server(tmp_path_factory.mktemp("model")) as server:
        yield server


@dataclass
class Chat:
    http: httpx.AsyncClient
    user: User
    conversation_id: str
    settings: Settings

    async def send(self, content: str) -> dict[str, Any]:
        r = await self.http.post(
            f"/conversations/{self.conversation_id}/messages",
            json={"content": content},
            headers=self.user.headers,
        )
        assert r.status_code == 202, r.text
        turn: dict[str, Any] = r.json()["data"]
        return turn

    async def stored(self, message_id: str, status: str) -> dict[str, Any]:
        async with asyncio.timeout(240):
            while True:
                r = await self.http.get(
                    f"/conversations/{self.conversation_id}/messages", headers=self.user.headers
                )
                for m in r.json()["data"]:
                    if m["id"] == message_id and m["status"] == status:
                        return dict(m)
                await asyncio.sleep(0.1)


async def start_chat(
    stack: Mesh, model: ModelServer, *, persona: dict[str, Any] = PERSONA, **overrides: Any
) -> AsyncIterator[Chat]:
    settings = msgspec.structs.replace(stack.settings, **{**model.worker_settings(), **overrides})
    gateway = await events_gateway(stack, settings)
    await stack.app(create_persona(settings))
    await stack.app(create_worker(settings))
    async with client(gateway.url) as http:
        user = await sign_up(http, "Sam")
        made = (await http.post("/personas", json=persona, headers=user.headers)).json()["data"]
        started = await http.post(f"/personas/{made['id']}/conversations", headers=user.headers)
        yield Chat(http, user, started.json()["data"]["conversation"]["id"], settings)


@pytest.fixture
async def chat(stack: Mesh, model: ModelServer) -> AsyncIterator[Chat]:
    async for c in start_chat(stack, model, job_backoff_base=0.05):
        yield c


def of_reply(events: list[SseEvent], message_id: str) -> list[SseEvent]:
    return [
        e for e in events if e.data.get("message_id") == message_id and e.data["channel"].startswith("user:")
    ]


async def until(sse: SseStream, names: set[str], message_id: str, timeout: float = 240) -> list[SseEvent]:
    seen: list[SseEvent] = []
    async with asyncio.timeout(timeout):
        while not seen or seen[-1].event not in names:
            event = await sse.next(timeout)
            if event.data.get("message_id") == message_id and event.data["channel"].startswith("user:"):
                seen.append(event)
    return seen


async def test_a_reply_from_a_real_model_streams_token_by_token_through_the_gateway(chat: Chat) -> None:
    async with open_stream(chat.http, headers=chat.user.headers) as sse:
        turn = await chat.send("Hello, captain! Who are you?")
        events = await until(sse, {"ai_chat_done", "ai_chat_error"}, turn["reply_message_id"])
    # The reply as its last take wrote it: the small model now and then breaks character (a claim
    # to be an AI), and the worker stops that take and starts again (a new `ai_chat_started`).
    last = max(i for i, e in enumerate(events) if e.event == "ai_chat_started")
    started, *chunks, done = events[last:]
    assert started.event == "ai_chat_started" and done.event == "ai_chat_done", [e.event for e in events]
    assert started.data["provider"] == "openai" and started.data["model"] == SMALL_MODEL
    # One event per token as the model produced it: many small deltas, in order, adding up to the reply.
    assert [c.data["index"] for c in chunks] == list(range(len(chunks))) and len(chunks) >= 5
    assert all(0 < len(c.data["delta"]) <= 40 for c in chunks)
    streamed = "".join(c.data["delta"] for c in chunks)
    text = done.data["text"]
    assert text.strip() and streamed.startswith(text)
    if streamed == text:
        assert abs(len(chunks) - done.data["usage"]["completion_tokens"]) <= 2
        assert done.data["usage"]["prompt_tokens"] > 50  # the persona's prompt went to the model
    else:
        # The small model went on in the user's voice (a paragraph addressing the captain, or
        # the user acting): the worker closed the stream there, and the reply ends before that
        # paragraph, whose first words had streamed (generation_worker.character.UserVoice).
        assert streamed[len(text) :][:1].isspace(), streamed[len(text) :]
    stored = await chat.stored(turn["reply_message_id"], "done")
    assert stored["content"] == text


async def test_stop_ends_the_generation_on_the_model_server(chat: Chat, model: ModelServer) -> None:
    async with open_stream(chat.http, headers=chat.user.headers) as sse:
        turn = await chat.send("Tell me a very long story about the cloud seas, in many paragraphs.")
        await until(sse, {"ai_chat_chunk"}, turn["reply_message_id"])
        assert await model.busy_slots() == 1
        r = await chat.http.post(
            f"/conversations/{chat.conversation_id}/generations/{turn['job_id']}/cancel",
            headers=chat.user.headers,
        )
        assert r.status_code == 202, r.text
        asked = time.monotonic()
        events = await until(sse, {"ai_chat_cancelled", "ai_chat_done"}, turn["reply_message_id"])
    assert events[-1].event == "ai_chat_cancelled"
    # The model server stops generating too, not only the worker: its slot is freed at once (well
    # under a second on an idle machine; the deadline leaves room for a loaded one, and is far
    # shorter than the rest of a 512-token story would take).
    while await model.busy_slots():
        assert time.monotonic() - asked < 5.0, "the model server kept generating after the stop"
        await asyncio.sleep(0.02)
    stored = await chat.stored(turn["reply_message_id"], "cancelled")
    assert stored["content"] == events[-1].data["text"]


def captain(name: str) -> dict[str, Any]:
    """A persona whose prompt the server has not cached (the earlier tests chat with PERSONA)."""
    first = name.split()[1]
    return {
        **PERSONA,
        "name": name,
        "greeting": f"*{first} looks up from her charts.* Welcome aboard.",
        # Named speakers in the prompt: the warm-up must name them as the reply does.
        "example_dialogues": "<START>\n{{user}}: Where are we headed?\n{{char}}: Wherever the wind is kind.",
    }


async def test_a_new_conversations_prompt_is_read_while_its_first_message_is_typed(
    stack: Mesh, model: ModelServer
) -> None:
    async with asyncio.timeout(30):
        while await model.busy_slots():  # an earlier test's stopped reply
            await asyncio.sleep(0.05)
    before = await model.prompt_tokens()
    async for chat in start_chat(stack, model, persona=captain("Captain Tove Lind"), llm_warmup=True):
        # Nothing sent yet: the worker has had the model read the conversation's prompt.
        async with asyncio.timeout(60):
            while not (read := await model.prompt_tokens() - before) or await model.busy_slots():
                await asyncio.sleep(0.05)
        async with open_stream(chat.http, headers=chat.user.headers) as sse:
            mark = await model.prompt_tokens()
            turn = await chat.send("Hello, captain!")
            events = await until(sse, {"ai_chat_done", "ai_chat_error"}, turn["reply_message_id"])
        assert events[-1].event == "ai_chat_done", events[-1].data
        # The reply went on from the cached prompt: it read its own message, not the persona again.
        reply = await model.prompt_tokens() - mark
        assert reply < min(40, read / 3), (read, reply)

        # A message sent at once waits for the warm-up rather than reading the prompt beside it
        # (a persona of the same shape: its prompt costs about `read` tokens to read).
        r = await chat.http.post("/personas", json=captain("Captain Ilse Varga"), headers=chat.user.headers)
        mark = await model.prompt_tokens()
        started = await chat.http.post(
            f"/personas/{r.json()['data']['id']}/conversations", headers=chat.user.headers
        )
        chat.conversation_id = started.json()["data"]["conversation"]["id"]
        async with open_stream(chat.http, headers=chat.user.headers) as sse:
            turn = await chat.send("Hello, captain!")
            events = await until(sse, {"ai_chat_done", "ai_chat_error"}, turn["reply_message_id"])
        assert events[-1].event == "ai_chat_done", events[-1].data
        # In turn: the prompt once, then the message. Side by side, both read the whole prompt.
        both = await model.prompt_tokens() - mark
        assert both < read + 2 * reply + 20, (read, reply, both)


async def test_a_chat_reopened_after_the_model_restarted_is_read_again_before_its_next_message(
    stack: Mesh, tmp_path: Path
) -> None:
    server = await ModelServer(tmp_path).start()
    try:
        async for chat in start_chat(stack, server, persona=captain("Captain Ada Holm"), llm_warmup=True):
            async with open_stream(chat.http, headers=chat.user.headers) as sse:
                turn = await chat.send("Hello, captain!")
                events = await until(sse, {"ai_chat_done", "ai_chat_error"}, turn["reply_message_id"])
            assert events[-1].event == "ai_chat_done", events[-1].data
            # A restart (make dev's, or the launcher's after a crash) empties the prompt cache.
            server.stop()
            await server.start()
            before = await server.prompt_tokens()  # its speed measured at start
            r = await chat.http.post(
                f"/conversations/{chat.conversation_id}/warm-up", headers=chat.user.headers
            )
            assert r.status_code == 204, r.text
            async with asyncio.timeout(60):
                while not (read := await server.prompt_tokens() - before) or await server.busy_slots():
                    await asyncio.sleep(0.05)
            mark = await server.prompt_tokens()
            async with open_stream(chat.http, headers=chat.user.headers) as sse:
                turn = await chat.send("What cargo do we carry?")
                events = await until(sse, {"ai_chat_done", "ai_chat_error"}, turn["reply_message_id"])
            assert events[-1].event == "ai_chat_done", events[-1].data
            # The persona, the greeting, the first turn: read while the chat was open, not again now.
            reply = await server.prompt_tokens() - mark
            assert reply < min(40, read / 3), (read, reply)
    finally:
        server.stop()


async def test_a_draft_from_an_idea_is_constrained_by_its_schema_and_validates(chat: Chat) -> None:
    async with open_stream(chat.http, headers=chat.user.headers) as sse:
        r = await chat.http.post(
            "/personas/generate",
            json={"idea": "a grumpy dragon who runs a small bakery", "tags": ["cozy"]},
            headers=chat.user.headers,
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["data"]["job_id"]
        async with asyncio.timeout(400):
            while (event := await sse.next(400)).event not in ("persona_draft_ready", "persona_draft_failed"):
                pass
    assert event.event == "persona_draft_ready", event.data
    draft = msgspec.convert(event.data["draft"], PersonaDraft)
    # Within the limits of the schema the model was held to (DraftAnswer), and usable as a persona.
    limits = DRAFT_SCHEMA.schema["properties"]
    for name in ("name", "tagline", "description", "scenario", "greeting"):
        assert limits[name]["minLength"] <= len(getattr(draft, name)) <= limits[name]["maxLength"], name
    assert len(draft.personality.split(", ")) >= limits["personality"]["minItems"]
    assert draft.example_dialogues.count("<START>\n{{user}}: ") == 2
    assert draft.tags[0] == "cozy" and len(draft.alternate_greetings) == 2
    # Stored a moment after the event (issue 15: state before event is not yet the rule for drafts).
    async with asyncio.timeout(30):
        while (await chat.http.get(f"/personas/drafts/{job_id}", headers=chat.user.headers)).json()["data"][
            "status"
        ] != "done":
            await asyncio.sleep(0.1)


async def test_the_model_server_dying_mid_reply_is_retried_then_told_in_words(
    stack: Mesh, tmp_path: Path
) -> None:
    server = await ModelServer(tmp_path, slots=1).start()
    try:
        async for chat in start_chat(stack, server, job_backoff_base=0.05, job_max_deliver=2):
            async with open_stream(chat.http, headers=chat.user.headers) as sse:
                turn = await chat.send("Tell me a very long story about the cloud seas, in many paragraphs.")
                await until(sse, {"ai_chat_chunk"}, turn["reply_message_id"])
                server.proc.kill()
                events = await until(sse, {"ai_chat_error", "ai_chat_done"}, turn["reply_message_id"])
            # The job was tried again (a new attempt), and when that failed too the user got a sentence.
            attempts = [e.data["attempt"] for e in events if e.event == "ai_chat_started"]
            assert attempts == [2] and events[-1].event == "ai_chat_error"
            assert events[-1].data["reason"] == GAVE_UP
            assert (await chat.stored(turn["reply_message_id"], "failed"))["status"] == "failed"

            # Back up: the next message is answered.
            await server.start()
            async with open_stream(chat.http, headers=chat.user.headers) as sse:
                turn = await chat.send("Are you still there?")
                events = await until(sse, {"ai_chat_error", "ai_chat_done"}, turn["reply_message_id"])
            assert events[-1].event == "ai_chat_done" and events[-1].data["text"].strip()
    finally:
        server.stop()


async def test_replies_beyond_the_models_slots_wait_in_order_and_say_where_they_are(
    stack: Mesh, model: ModelServer
) -> None:
    async for chat in start_chat(stack, model, llm_parallel=1, persona_reply_max_tokens=48):
        conversations = [chat.conversation_id]
        for _ in range(2):
            started = await chat.http.post(
                f"/personas/{await persona_of(chat)}/conversations", headers=chat.user.headers
            )
            conversations.append(started.json()["data"]["conversation"]["id"])
        async with open_stream(chat.http, headers=chat.user.headers) as sse:
            turns = []
            for cid in conversations:
                chat.conversation_id = cid
                turns.append(await chat.send("Tell me about your ship."))
            replies = [t["reply_message_id"] for t in turns]
            seen: dict[str, list[SseEvent]] = {r: [] for r in replies}
            async with asyncio.timeout(300):
                while not all(s and s[-1].event == "ai_chat_done" for s in seen.values()):
                    event = await sse.next(240)
                    if event.data.get("message_id") in seen and event.data["channel"].startswith("user:"):
                        seen[event.data["message_id"]].append(event)
        # Until its first start each reply heard only where it stands in line (a retry on a loaded
        # machine may add a second start later: that is not what this test is about).
        before_start = []
        for r in replies:
            events = [e for e in seen[r] if e.event != "ai_chat_chunk"]
            first_start = next(i for i, e in enumerate(events) if e.event == "ai_chat_started")
            assert all(e.event == "ai_chat_queued" for e in events[:first_start])
            assert events[-1].event == "ai_chat_done"
            before_start.append([e.data["position"] for e in events[:first_start]])
        assert before_start == [[], [1], [2, 1]]


async def persona_of(chat: Chat) -> str:
    r = await chat.http.get(f"/conversations/{chat.conversation_id}", headers=chat.user.headers)
    return str(r.json()["data"]["persona_id"])
