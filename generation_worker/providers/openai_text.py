"""The `openai` text provider: any OpenAI-compatible `chat.completions` endpoint (OpenAI, Ollama,
vLLM, llama.cpp server, LM Studio, OpenRouter), streamed.

It speaks the wire format itself (`proto.openai_chat`) over one pooled aiohttp session rather than
through the SDK: the SDK spent about 10 ms of CPU per reply building the request and parsing its
frames, most of it before the first token, and httpx 1.8 ms per request before its first byte went
out, against aiohttp's 1.0 (bench/REPORT.md, the embedded language model).
No retries here: a retryable failure (timeout, connection, 408/409/429/5xx) becomes a retryable
ProviderError and the job is redelivered with backoff, so a worker never sits in a retry loop
holding a job. Other 4xx end the reply with a readable reason."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
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
# An idle connection is not reused after this: llama.cpp's server closes its own after 5 s.
KEEPALIVE_SECONDS = 4.0


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
        self.base_url = (base_url or OPENAI_BASE_URL).rstrip("/") + "/"
        # Local servers (Ollama, llama.cpp) need no key.
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Connecting, and each wait for more of the answer, may take `timeout`; a whole reply longer.
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        # Made on first use, in the running event loop (a session belongs to its loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                timeout=self.timeout,
                trust_env=True,
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
            )
        return self._session

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
                async for line in response.content:
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
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
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable(exc, model=MODEL) from None
        except (msgspec.DecodeError, ValueError) as exc:  # ValueError: a line past aiohttp's limit
            raise ProviderError(f"the text model sent a malformed frame: {exc}", retryable=True) from None
        if not finish:
            # The connection ended without a finish reason: a truncated reply, not a complete one.
            raise ProviderError("the text model's stream ended before the reply finished", retryable=True)
        yield TextFinish(finish, usage)

    @contextlib.asynccontextmanager
    async def _post(self, body: bytes) -> AsyncIterator[aiohttp.ClientResponse]:
        """The streamed answer to one request; a refusal becomes a ProviderError. Leaving the
        block before the answer's end (the reader stopped early) closes its connection, which ends
        the upstream request (aiohttp hands a connection read to its end back to the pool itself)."""
        try:
            response = await self._send(body)
        except aiohttp.ClientConnectionError:
            # llama.cpp's server now and then closes a kept-alive connection just as the next
            # request goes out on it (the request cannot be written, or no answer comes): nothing
            # was asked of the model, so ask once more, on a new connection.
            response = await self._send(body)
        try:
            if response.status >= 400:
                raise _refused(response.status, response.headers, await response.read())
            yield response
        finally:
            response.close()

    async def _send(self, body: bytes) -> aiohttp.ClientResponse:
        return await self.http.post(f"{self.base_url}chat/completions", data=body, headers=JSON)

    async def check(self) -> None:
        """The model list answers: the server is up and takes this key (OpenAI, llama.cpp, vLLM, Ollama)."""
        try:
            async with self.http.get(f"{self.base_url}models") as response:
                if response.status >= 400:
                    raise _refused(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable(exc, model=MODEL) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _refused(status: int, headers: Mapping[str, str], content: bytes) -> ProviderError:
    """A non-2xx answer (its body read) as a ProviderError."""
    try:
        body: object = msgspec.json.decode(content)
    except msgspec.DecodeError:
        body = None
    return refusal(status, headers, body, model=MODEL, key_setting=KEY_SETTING)


def _response_format(schema: JsonSchema) -> Any:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.name, "schema": schema.schema, "strict": True},
    }
