"""OpenAI's chat-completions wire format, as the worker speaks it to any OpenAI-compatible server
(OpenAI, vLLM, Ollama, llama.cpp's server): the request body and the streamed
`chat.completion.chunk` frames. Only the fields the worker reads are declared; others are ignored."""

from __future__ import annotations

from typing import Any

import msgspec

from proto.chat import PromptMessage


class StreamOptions(msgspec.Struct):
    include_usage: bool = True


class ChatCompletionRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    model: str
    messages: list[PromptMessage]
    stream: bool
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    # Not in OpenAI's own API (llama.cpp, vLLM, Ollama read them): sent only when set.
    min_p: float | None = None
    repeat_penalty: float | None = None
    stream_options: StreamOptions | None = None
    response_format: dict[str, Any] | None = None


class ChunkDelta(msgspec.Struct):
    content: str | None = None


class ChunkChoice(msgspec.Struct):
    delta: ChunkDelta | None = None
    finish_reason: str | None = None


class ChunkUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChunkError(msgspec.Struct):
    message: str = ""


class ChatCompletionChunk(msgspec.Struct):
    """One `data:` frame of a streamed reply; a server that fails mid-stream sends `error` instead."""

    choices: list[ChunkChoice] = []
    usage: ChunkUsage | None = None
    error: ChunkError | None = None


request_encoder = msgspec.json.Encoder()
chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)
