"""The `openai` text provider: any OpenAI-compatible `chat.completions` endpoint (OpenAI, Ollama,
vLLM, llama.cpp server, LM Studio, OpenRouter), streamed.

It speaks the wire format itself (`proto.openai_chat`) over one pooled httpx client rather than
through the SDK: the SDK spent about 10 ms of CPU per reply building the request and parsing its
frames, most of it before the first token (bench/REPORT.md, the embedded language model).
No retries here: a retryable failure (timeout, connection, 408/409/429/5xx) becomes a retryable
ProviderError and the job is redelivered with backoff, so a worker never sits in a retry loop
holding a job. Other 4xx end the reply with a readable reason."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from generation_worker.providers.base import JsonSchema, ProviderError, TextFinish, TextRequest
from generation_worker.providers.messages import fold_system
from generation_worker.providers.openai_errors import refusal, unreachable
from proto.chat import ChatUsage
from proto.openai_chat import ChatCompletionRequest, StreamOptions, chunk_decoder, request_encoder

NAME = "openai"
OPENAI_BASE_URL = "https://api.openai.com/v1"
MODEL = "text model"
KEY_SETTING = "LLM_API_KEY"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Sampling:
    """Optional sampling sent with every request; unset fields are left to the server."""

    top_p: float | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None


class OpenAITextProvider:
    name = NAME

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout: float = 60.0,
        stream_usage: bool = True,
        sampling: Sampling | None = None,
    ) -> None:
        self.model = model
        self.stream_usage = stream_usage
        self.sampling = sampling or Sampling()
        # Local servers (Ollama, llama.cpp) need no key.
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.AsyncClient(
            base_url=(base_url or OPENAI_BASE_URL).rstrip("/") + "/", headers=headers, timeout=timeout
        )

    def body(self, request: TextRequest) -> bytes:
        s = self.sampling
        return request_encoder.encode(
            ChatCompletionRequest(
                model=self.model,
                messages=fold_system(request.messages, request.persona_name, request.user_name),
                stream=True,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=s.top_p,
                min_p=s.min_p,
                repeat_penalty=s.repeat_penalty,
                stream_options=StreamOptions() if self.stream_usage else None,
                response_format=_response_format(request.json_schema) if request.json_schema else None,
            )
        )

    async def stream(self, request: TextRequest) -> AsyncGenerator[str | TextFinish, None]:
        finish = ""
        usage = ChatUsage()
        body = self.body(request)
        try:
            async with self._post(body) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = chunk_decoder.decode(data)
                    if chunk.error is not None:
                        raise ProviderError(
                            f"the text model failed mid-reply: {chunk.error.message}", retryable=True
                        )
                    if chunk.usage is not None:
                        usage = ChatUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices[:1]:
                        if choice.delta is not None and choice.delta.content:
                            yield choice.delta.content
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except httpx.HTTPError as exc:
            raise unreachable(exc, model=MODEL) from None
        except msgspec.DecodeError as exc:
            raise ProviderError(f"the text model sent a malformed frame: {exc}", retryable=True) from None
        if not finish:
            # The connection ended without a finish reason: a truncated reply, not a complete one.
            raise ProviderError("the text model's stream ended before the reply finished", retryable=True)
        yield TextFinish(finish, usage)

    @contextlib.asynccontextmanager
    async def _post(self, body: bytes) -> AsyncIterator[httpx.Response]:
        """The streamed answer to one request; a refusal becomes a ProviderError. Leaving the
        block (also when the reader stops early) closes it, which ends the upstream request."""
        try:
            response = await self._send(body)
        except httpx.RemoteProtocolError:
            # llama.cpp's server now and then closes a kept-alive connection just as the next
            # request goes out on it ("disconnected without sending a response"): nothing was
            # asked of the model, so ask once more, on a new connection.
            response = await self._send(body)
        try:
            if response.is_error:
                await response.aread()
                raise _refused(response)
            yield response
        finally:
            await response.aclose()

    async def _send(self, body: bytes) -> httpx.Response:
        request = self.http.build_request("POST", "chat/completions", content=body, headers=JSON)
        return await self.http.send(request, stream=True)

    async def check(self) -> None:
        """The model list answers: the server is up and takes this key (OpenAI, llama.cpp, vLLM, Ollama)."""
        try:
            response = await self.http.get("models")
        except httpx.HTTPError as exc:
            raise unreachable(exc, model=MODEL) from None
        if response.is_error:
            raise _refused(response)

    async def close(self) -> None:
        await self.http.aclose()


def _refused(response: httpx.Response) -> ProviderError:
    """A non-2xx answer (its body read) as a ProviderError."""
    try:
        body: object = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        body = None
    return refusal(response.status_code, response.headers, body, model=MODEL, key_setting=KEY_SETTING)


def _response_format(schema: JsonSchema) -> Any:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.name, "schema": schema.schema, "strict": True},
    }
