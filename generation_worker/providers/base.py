"""The text provider protocol: a stream of text deltas, then how and why it finished."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

import msgspec

from proto.chat import ChatUsage, PromptMessage


class TextFinish(msgspec.Struct):
    finish_reason: str
    usage: ChatUsage = msgspec.field(default_factory=ChatUsage)


class JsonSchema(msgspec.Struct, frozen=True):
    """Constrains a reply to JSON valid against `schema` (OpenAI's `response_format` json_schema)."""

    name: str
    schema: dict[str, Any]


class TextRequest(msgspec.Struct, frozen=True):
    """What a provider is asked for. `persona_name`/`user_name` are hints for back-ends without
    a model (a real model reads the names from the assembled prompt)."""

    messages: list[PromptMessage]
    max_tokens: int = 512
    temperature: float = 0.8
    json_schema: JsonSchema | None = None
    persona_name: str = ""
    user_name: str = ""


class ProviderError(Exception):
    """`retryable`: timeouts, 429 and 5xx (the job is retried with backoff); otherwise the
    request itself was refused (a 4xx the user caused) and `reason` is shown to them."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class TextProvider(Protocol):
    name: str
    model: str

    def stream(self, request: TextRequest) -> AsyncGenerator[str | TextFinish, None]:
        """Yield each text delta as the back-end produces it (never batched), then one TextFinish.

        Raises ProviderError; closing the iterator early (cancellation) stops the back-end's
        stream."""
        ...

    async def check(self) -> None:
        """Raise when the back-end does not answer (the worker's readiness)."""
        ...

    async def close(self) -> None:
        """Release connections (called when the worker stops)."""
        ...
