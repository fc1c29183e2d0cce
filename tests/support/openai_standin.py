"""A stand-in for OpenAI's paid API, for tests only: `POST /v1/chat/completions` over real HTTP,
answering with the documented streaming wire format (`text/event-stream` of
`chat.completion.chunk` objects, then `data: [DONE]`) or the documented error bodies.

Each request takes the next step of `script`: "stream", or an HTTP status (429, 500, 400, …)
answered with OpenAI's error envelope. A stream sends the next reply of `takes` (then `tokens`).
After `gate_after` chunks a stream waits for `gate` to be set, so a test can prove chunks reach it
one by one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

TOKENS = ["Ahoy", ",", " sailor", ".", " The", " sea", " is", " calm", " tonight", "."]
ERRORS = {
    400: ("invalid_request_error", "This model's maximum context length is 8192 tokens.", "messages"),
    401: ("invalid_request_error", "Incorrect API key provided: sk-abc***xyz.", None),
    429: ("rate_limit_exceeded", "Rate limit reached for requests per min.", None),
    500: ("server_error", "The server had an error while processing your request.", None),
    503: ("server_error", "The engine is currently overloaded.", None),
}


@dataclass
class OpenAIStandIn:
    script: list[str | int] = field(default_factory=lambda: ["stream"])
    tokens: list[str] = field(default_factory=lambda: list(TOKENS))
    takes: list[list[str]] = field(default_factory=list)
    gap: float = 0.02
    gate_after: int | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    closed_early: bool = False

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step != "stream":
            status = int(step)
            kind, message, param = ERRORS[status]
            headers = {"retry-after": "0"} if status == 429 else {}
            error = {"message": message, "type": kind, "param": param, "code": None}
            return JSONResponse({"error": error}, status_code=status, headers=headers)
        tokens = self.takes.pop(0) if self.takes else self.tokens
        return StreamingResponse(self._chunks(body, tokens), media_type="text/event-stream")

    async def _chunks(self, body: dict[str, Any], tokens: list[str]) -> AsyncIterator[bytes]:
        created = int(time.time())
        base = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": created}
        base["model"] = body.get("model", "gpt-4o-mini")

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return b"data: " + json.dumps({**base, "choices": [choice], **extra}).encode() + b"\n\n"

        try:
            yield chunk({"role": "assistant", "content": ""})
            for i, token in enumerate(tokens):
                if self.gate_after is not None and i == self.gate_after:
                    await asyncio.wait_for(self.gate.wait(), 30)
                await asyncio.sleep(self.gap)
                self.sent += 1
                yield chunk({"content": token})
            yield chunk({}, "stop")
            if body.get("stream_options", {}).get("include_usage"):
                usage = {"prompt_tokens": 21, "completion_tokens": len(tokens), "total_tokens": 31}
                yield b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            self.closed_early = True
            raise
