"""The mesh with a real language model, as processes, for the model benchmarks (`bench.llm`,
`bench.persona_eval`): nats-server, the embedded model server, the services, the worker and the
gateway; users who chat through the gateway and read their replies over SSE, and a client that
asks the model server directly with the very messages the worker sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from chassis.settings import Settings
from generation_worker.providers.messages import fold_system
from persona_svc import prompt
from proto.conversations import Message
from proto.personas import Persona
from tests.support.model import ModelServer
from tests.support.natsd import NatsServer
from tests.support.procs import Procs
from tests.support.sse import SseStream, open_stream

DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"
# make dev's role-play sampling (chassis.devstack.EMBEDDED_SAMPLING), sent by the worker.
SAMPLING = {"top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1}


@dataclass
class Reply:
    """One reply as a client saw it: when it was asked, when each token arrived, its text."""

    asked: float
    token_times: list[float] = field(default_factory=list)
    # Through the mesh: when the POST's 202 and the (last) `ai_chat_started` arrived.
    accepted: float = float("nan")
    started: float = float("nan")
    text: str = ""
    status: str = ""
    # The chunks of the kept take as they arrived: longer than `text` when the worker ended the
    # reply before a paragraph in the user's voice (generation_worker.character.UserVoice).
    streamed: str = ""
    # Takes the worker stopped because they claimed to be an AI (generation_worker.character).
    dropped: list[str] = field(default_factory=list)

    @property
    def ttft(self) -> float:
        return self.token_times[0] - self.asked if self.token_times else float("nan")

    @property
    def tokens_per_second(self) -> float:
        times = self.token_times
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 else float("nan")


class User:
    """A signed-up user with an open event stream: sends messages, reads replies token by token."""

    def __init__(self, http: httpx.AsyncClient, token: str, name: str, sse: SseStream) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.name = name
        self.sse = sse
        # Everything heard about each reply, by message id, from the start: a reply may begin (even
        # end) before the answer to its POST arrives.
        self.heard: dict[str, list[tuple[float, str, dict[str, Any]]]] = {}
        self.ended: dict[str, asyncio.Event] = {}
        self.drafts: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            event = await self.sse.next(timeout=3600)
            now = time.perf_counter()
            data = event.data
            if not isinstance(data, dict) or not str(data.get("channel", "")).startswith("user:"):
                continue
            if event.event in ("persona_draft_ready", "persona_draft_failed"):
                found = self.drafts.setdefault(data["job_id"], asyncio.get_running_loop().create_future())
                if not found.done():
                    found.set_result({"event": event.event, **data})
            elif "message_id" in data:
                self.heard.setdefault(data["message_id"], []).append((now, event.event, data))
                if event.event in ("ai_chat_done", "ai_chat_error", "ai_chat_cancelled"):
                    self.ended.setdefault(data["message_id"], asyncio.Event()).set()

    async def persona(self, body: dict[str, Any]) -> str:
        r = await self.http.post("/personas", json=body, headers=self.headers)
        r.raise_for_status()
        return str(r.json()["data"]["id"])

    async def conversation(self, persona_id: str) -> str:
        r = await self.http.post(f"/personas/{persona_id}/conversations", headers=self.headers)
        r.raise_for_status()
        return str(r.json()["data"]["conversation"]["id"])

    async def chat(self, conversation_id: str, content: str) -> Reply:
        asked = time.perf_counter()
        r = await self.http.post(
            f"/conversations/{conversation_id}/messages", json={"content": content}, headers=self.headers
        )
        r.raise_for_status()
        accepted = time.perf_counter()
        reply_id = r.json()["data"]["reply_message_id"]
        await asyncio.wait_for(self.ended.setdefault(reply_id, asyncio.Event()).wait(), 600)
        reply = Reply(asked, accepted=accepted)
        take: list[str] = []
        for at, name, data in self.heard.pop(reply_id):
            if name == "ai_chat_chunk":
                reply.token_times.append(at)
                take.append(data["delta"])
            elif name == "ai_chat_started":
                reply.started = at
                if not (data.get("attempt", 1) > 1 or data.get("retake", 0)):
                    continue
                if data.get("retake", 0):
                    reply.dropped.append("".join(take))
                reply.token_times.clear()  # a retried reply starts over
                take.clear()
            elif name in ("ai_chat_done", "ai_chat_error", "ai_chat_cancelled"):
                reply.status, reply.text = name, data.get("text", "") or data.get("reason", "")
        reply.streamed = "".join(take)
        # The stored reply ends the turn: the next message is accepted only once it is persisted.
        async with asyncio.timeout(30):
            while (await self.get(f"/conversations/{conversation_id}"))["pending_job_id"]:
                await asyncio.sleep(0.02)
        return reply

    async def draft(self, idea: str) -> dict[str, Any]:
        """A persona drafted from `idea`: the `persona_draft_ready` or `persona_draft_failed` event."""
        r = await self.http.post("/personas/generate", json={"idea": idea}, headers=self.headers)
        r.raise_for_status()
        job_id = r.json()["data"]["job_id"]
        found = self.drafts.setdefault(job_id, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(found, 600)

    async def get(self, path: str) -> Any:
        r = await self.http.get(path, headers=self.headers)
        r.raise_for_status()
        return r.json()["data"]

    async def prompt(
        self, conversation_id: str, persona_id: str, settings: Settings, content: str
    ) -> list[dict[str, Any]]:
        """The messages the worker sends for the reply to `content`, the next message of this
        conversation (as persona_svc assembles them and the provider folds them), so a direct
        call asks the very same: a card's post-history instructions come after the user's message."""
        persona = msgspec.convert(await self.get(f"/personas/{persona_id}"), Persona)
        rows = await self.get(f"/conversations/{conversation_id}/messages?limit=100")
        history = sorted((msgspec.convert(m, Message) for m in rows), key=lambda m: m.seq)
        last = history[-1]
        history.append(
            msgspec.structs.replace(last, id="next", seq=last.seq + 1, role="user", content=content)
        )
        budget = prompt.Budget(
            total=settings.persona_prompt_token_budget,
            reply=settings.persona_reply_max_tokens,
            scan_depth=settings.persona_lorebook_scan_depth,
            lorebook=settings.persona_lorebook_token_budget,
        )
        built = prompt.build(persona, self.name, history, budget)
        char = prompt.char_name(persona)
        return [
            {"role": m.role, "content": m.content, **({"name": m.name} if m.name else {})}
            for m in fold_system(built, char, self.name)
        ]


class Direct:
    """The model server called directly, streamed, as the worker's provider calls it."""

    def __init__(self, model: ModelServer) -> None:
        self.model = model
        self.http = httpx.AsyncClient(timeout=600, headers={"Authorization": f"Bearer {model.key}"})

    async def chat(self, messages: list[dict[str, Any]], max_tokens: int, temperature: float = 0.8) -> Reply:
        body = {
            "model": self.model.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
            **SAMPLING,
        }
        try:
            return await self._chat(body)
        except httpx.RemoteProtocolError:
            # llama.cpp's server now and then closes a kept-alive connection just as the next
            # streamed request goes out on it ("disconnected without sending a response"):
            # nothing was asked of the model, so ask again, on a new connection.
            return await self._chat(body)

    async def _chat(self, body: dict[str, Any]) -> Reply:
        reply = Reply(time.perf_counter())
        parts: list[str] = []
        async with self.http.stream("POST", f"{self.model.base_url}/chat/completions", json=body) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices", [])[:1]:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        reply.token_times.append(time.perf_counter())
                        parts.append(delta)
        reply.text, reply.status = "".join(parts), "done"
        return reply

    async def close(self) -> None:
        await self.http.aclose()


@dataclass
class ModelMesh:
    url: str
    model: ModelServer
    settings: Settings
    http: httpx.AsyncClient
    direct: Direct
    users: list[User] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def user(self, name: str) -> AsyncIterator[User]:
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": email, "password": "correct horse battery", "display_name": name}
        r = await self.http.post("/auth/register", json=body)
        r.raise_for_status()
        token = r.json()["data"]["access_token"]
        async with open_stream(self.http, headers={"Authorization": f"Bearer {token}"}) as sse:
            user = User(self.http, token, name, sse)
            try:
                yield user
            finally:
                user.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, EOFError):
                    await user.reader


@contextlib.asynccontextmanager
async def model_mesh(
    folder: Path, *, model: str = DEFAULT_MODEL, slots: int = 4, reply_tokens: int = 128
) -> AsyncIterator[ModelMesh]:
    nats = NatsServer(folder / "nats").start()
    server = ModelServer(folder, slots=slots, model=model, context=4096)
    # Access tokens outlive the run (a model benchmark takes longer than their 15 minutes).
    common = {"NATS_URL": nats.url, "DATA_DIR": str(folder / "data"), "ACCESS_TOKEN_TTL": "14400"}
    procs = Procs(folder / "logs", common)
    try:
        await server.start()
        worker_env = {**server.worker_env(), **{f"LLM_{k.upper()}": str(v) for k, v in SAMPLING.items()}}
        worker_env["LLM_RETAKE_PREFILL"] = "*"  # as make dev sets it
        tokens = {"PERSONA_REPLY_MAX_TOKENS": str(reply_tokens)}
        procs.start("auth_svc", "auth_svc")
        procs.start("persona_svc", "persona_svc", None, **tokens)
        procs.start("media_svc", "media_svc")
        procs.start(
            "generation_worker", "generation_worker", None, **worker_env, WORKER_CHAT_CONCURRENCY="32"
        )
        gateway = procs.start("gateway", "gateway")
        await procs.wait_ready()
        settings = Settings.from_env({}, persona_reply_max_tokens=reply_tokens)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=600) as http:
            direct = Direct(server)
            try:
                yield ModelMesh(gateway.url, server, settings, http, direct)
            finally:
                await direct.close()
    finally:
        procs.stop()
        server.stop()
        nats.stop()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(v for v in values if v == v)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
