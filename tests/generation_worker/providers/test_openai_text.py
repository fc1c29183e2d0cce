"""The `openai` provider against a local stand-in for OpenAI's paid API (real HTTP, documented frames)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from generation_worker.providers.base import ProviderError, TextFinish, TextRequest
from generation_worker.providers.openai_text import OpenAITextProvider
from proto.chat import PromptMessage
from tests.support.mesh import Mesh
from tests.support.openai_standin import TOKENS, OpenAIStandIn

PROMPT = [PromptMessage(role="system", content="You are Mara."), PromptMessage(role="user", content="Hi")]


@pytest.fixture
async def standin(stack: Mesh) -> AsyncIterator[tuple[OpenAIStandIn, str]]:
    fake = OpenAIStandIn()
    server = await stack.server(fake.app())
    yield fake, f"{server.url}/v1"


def provider(url: str, timeout: float = 10.0) -> OpenAITextProvider:
    return OpenAITextProvider(base_url=url, api_key="sk-test", model="gpt-4o-mini", timeout=timeout)


async def stream_error(p: OpenAITextProvider) -> ProviderError:
    """The error `p` raises while streaming PROMPT (the test fails if it raises none)."""
    try:
        with pytest.raises(ProviderError) as caught:
            [item async for item in p.stream(TextRequest(PROMPT))]
    finally:
        await p.close()
    return caught.value


async def test_deltas_arrive_as_the_server_sends_them(standin: tuple[OpenAIStandIn, str]) -> None:
    fake, url = standin
    fake.gate_after = 3
    p = provider(url)
    try:
        stream = p.stream(TextRequest(PROMPT, max_tokens=50, temperature=0.3))
        first = [str(await anext(stream)) for _ in range(3)]
        # The server is holding the rest back: these three were streamed, not buffered.
        assert first == TOKENS[:3] and fake.sent == 3
        fake.gate.set()
        rest = [item async for item in stream]
    finally:
        await p.close()
    finish = rest[-1]
    assert "".join(first) + "".join(str(x) for x in rest[:-1]) == "".join(TOKENS)
    assert isinstance(finish, TextFinish) and finish.finish_reason == "stop"
    assert finish.usage.completion_tokens == len(TOKENS) and finish.usage.prompt_tokens == 21
    body = fake.requests[0]["body"]
    assert body["stream"] is True and body["model"] == "gpt-4o-mini" and body["max_tokens"] == 50
    assert body["messages"] == [
        {"role": "system", "content": "You are Mara."},
        {"role": "user", "content": "Hi"},
    ]
    assert fake.requests[0]["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_are_retryable(
    standin: tuple[OpenAIStandIn, str], status: int
) -> None:
    fake, url = standin
    fake.script = [status]
    error = await stream_error(provider(url))
    assert error.retryable and str(status) in error.reason
    assert len(fake.requests) == 1  # the SDK's own retries are off: the job is what retries
    if status == 429:
        assert error.retry_after == 0


async def test_a_refused_request_is_final_with_a_readable_reason(standin: tuple[OpenAIStandIn, str]) -> None:
    fake, url = standin
    fake.script = [400]
    error = await stream_error(provider(url))
    assert not error.retryable
    assert "maximum context length is 8192 tokens" in error.reason


async def test_bad_credentials_never_echo_the_key(standin: tuple[OpenAIStandIn, str]) -> None:
    fake, url = standin
    fake.script = [401]
    error = await stream_error(provider(url))
    assert not error.retryable and "LLM_API_KEY" in error.reason
    assert "sk-" not in error.reason


async def test_a_stalled_stream_times_out_as_retryable(standin: tuple[OpenAIStandIn, str]) -> None:
    fake, url = standin
    fake.gate_after = 1  # never released
    error = await stream_error(provider(url, timeout=0.5))
    assert error.retryable


async def test_closing_the_stream_early_ends_the_upstream_request(standin: tuple[OpenAIStandIn, str]) -> None:
    fake, url = standin
    fake.gate_after = 2
    p = provider(url)
    try:
        stream = p.stream(TextRequest(PROMPT))
        assert await anext(stream) == TOKENS[0]
        await stream.aclose()
        fake.gate.set()
        async with asyncio.timeout(10):
            while not fake.closed_early:
                await asyncio.sleep(0.05)
    finally:
        await p.close()
    assert fake.closed_early and fake.sent < len(TOKENS)


class DroppingServer:
    """A raw HTTP/1.1 server that closes its first `drops` connections once a request arrives,
    without a byte of answer (as llama.cpp's server now and then does to a kept-alive connection
    just as the next request goes out on it), then streams a short reply in OpenAI's frames."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.requests = 0

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        self.requests += 1
        if self.requests <= self.drops:
            writer.close()
            return
        frames = [
            b'data: {"choices": [{"index": 0, "delta": {"content": "Ahoy"}, "finish_reason": null}]}',
            b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}',
            b"data: [DONE]",
        ]
        body = b"".join(f + b"\n\n" for f in frames)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


async def test_a_connection_dropped_before_any_answer_is_asked_again_once() -> None:
    async with DroppingServer(drops=1) as url:
        p = provider(url)
        try:
            items = [item async for item in p.stream(TextRequest(PROMPT))]
        finally:
            await p.close()
    assert items[0] == "Ahoy" and isinstance(items[1], TextFinish)


async def test_a_server_that_keeps_dropping_the_request_is_a_retryable_failure() -> None:
    server = DroppingServer(drops=10)
    async with server as url:
        error = await stream_error(provider(url))
    assert error.retryable and "did not answer" in error.reason
    assert server.requests == 2  # asked again once, then the job's own retry takes over
