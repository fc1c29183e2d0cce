"""The `openai` text provider: any OpenAI-compatible `chat.completions` endpoint (OpenAI, Ollama,
vLLM, llama.cpp server, LM Studio, OpenRouter) through the official SDK, streamed.

The SDK's own retries are off: a retryable failure (timeout, connection, 408/409/429/5xx)
becomes a retryable ProviderError and the job is redelivered with backoff, so a worker never
sits in a retry loop holding a job. Other 4xx end the reply with a readable reason."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import openai
from openai.types.chat import ChatCompletionMessageParam

from generation_worker.providers.base import JsonSchema, ProviderError, TextFinish, TextRequest
from generation_worker.providers.messages import fold_system
from generation_worker.providers.openai_errors import client, connection_error, status_error
from proto.chat import ChatUsage, PromptMessage

NAME = "openai"


@dataclass(frozen=True)
class Sampling:
    """Optional sampling sent with every request; unset fields are left to the server."""

    top_p: float | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None

    def extra_body(self) -> dict[str, float]:
        # Not in OpenAI's own API: sent only when set, so OpenAI itself never sees them.
        extra = {"min_p": self.min_p, "repeat_penalty": self.repeat_penalty}
        return {k: v for k, v in extra.items() if v is not None}


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
        self.client = client(base_url=base_url, api_key=api_key, timeout=timeout)

    async def stream(self, request: TextRequest) -> AsyncGenerator[str | TextFinish, None]:
        finish = ""
        usage = ChatUsage()
        try:
            stream = await self.client.chat.completions.create(
                model=self.model,
                messages=[
                    _message(m)
                    for m in fold_system(request.messages, request.persona_name, request.user_name)
                ],
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stream=True,
                response_format=_response_format(request.json_schema) if request.json_schema else openai.omit,
                stream_options={"include_usage": True} if self.stream_usage else openai.omit,
                top_p=self.sampling.top_p if self.sampling.top_p is not None else openai.omit,
                extra_body=self.sampling.extra_body() or None,
            )
            try:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = ChatUsage(
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                        )
                    for choice in chunk.choices[:1]:
                        if choice.delta.content:
                            yield choice.delta.content
                        if choice.finish_reason:
                            finish = choice.finish_reason
            finally:
                # Cancelled or failed mid-stream: stop reading and free the connection now.
                await stream.close()
        except openai.APIStatusError as exc:
            raise status_error(exc, model="text model", key_setting="LLM_API_KEY") from None
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise connection_error(exc, model="text model") from None
        except openai.APIError as exc:  # an error event inside the stream
            raise ProviderError(f"the text model failed mid-reply: {exc.message}", retryable=True) from None
        except httpx.HTTPError as exc:  # the connection broke mid-stream (the SDK does not wrap these)
            raise ProviderError(
                f"the text model's connection broke mid-reply: {exc!r}", retryable=True
            ) from None
        if not finish:
            # The connection ended without a finish reason: a truncated reply, not a complete one.
            raise ProviderError("the text model's stream ended before the reply finished", retryable=True)
        yield TextFinish(finish, usage)

    async def check(self) -> None:
        """The model list answers: the server is up and takes this key (OpenAI, llama.cpp, vLLM, Ollama)."""
        try:
            await self.client.models.list()
        except openai.APIStatusError as exc:
            raise status_error(exc, model="text model", key_setting="LLM_API_KEY") from None
        except openai.APIConnectionError as exc:
            raise connection_error(exc, model="text model") from None

    async def close(self) -> None:
        await self.client.close()


def _message(m: PromptMessage) -> ChatCompletionMessageParam:
    out = {"role": m.role, "content": m.content}
    if m.name:
        out["name"] = m.name
    return cast(ChatCompletionMessageParam, out)


def _response_format(schema: JsonSchema) -> Any:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.name, "schema": schema.schema, "strict": True},
    }
