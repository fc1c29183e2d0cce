"""How the text and image providers talk to an OpenAI-compatible server: the SDK client (images),
and how the server's refusals and silences become ProviderErrors."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import openai
import structlog

from generation_worker.providers.base import ProviderError

log = structlog.get_logger("generation_worker.providers")

RETRYABLE_STATUS = frozenset({408, 409, 429})


def client(*, base_url: str | None, api_key: str | None, timeout: float) -> openai.AsyncOpenAI:
    """The SDK's own retries are off: a retryable failure becomes a retryable ProviderError and the
    job is redelivered with backoff. Local servers (Ollama, llama.cpp) need no key, but the SDK
    insists on one."""
    return openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=0
    )


def status_error(exc: openai.APIStatusError, *, model: str, key_setting: str) -> ProviderError:
    """`model` names it for users ("text model"); `key_setting` is what an operator checks on 401/403."""
    return refusal(exc.status_code, exc.response.headers, exc.body, model=model, key_setting=key_setting)


def refusal(
    status: int, headers: Mapping[str, str], body: object, *, model: str, key_setting: str
) -> ProviderError:
    """A non-2xx answer as a ProviderError; `body` is the decoded error body (or its `error` object)."""
    if status in RETRYABLE_STATUS or status >= 500:
        return ProviderError(
            f"the {model} answered {status}; retrying", retryable=True, retry_after=_retry_after(headers)
        )
    if status in (401, 403):
        # The operator's credentials, not the user's request: never echo the server's message
        # (it can quote part of the key).
        log.error("model rejected the credentials", model=model, status=status)
        return ProviderError(
            f"the {model} rejected this server's credentials; the operator must check {key_setting}",
            retryable=False,
        )
    return ProviderError(f"the {model} refused the request: {_detail(status, body)}", retryable=False)


def connection_error(exc: openai.APIConnectionError, *, model: str) -> ProviderError:
    return ProviderError(f"the {model} did not answer: {exc}", retryable=True)


def unreachable(exc: Exception, *, model: str) -> ProviderError:
    """No answer: refused, reset, or timed out (before or during a streamed reply); `exc` is the
    HTTP client's (httpx for images, aiohttp for text)."""
    timed_out = isinstance(exc, httpx.TimeoutException | TimeoutError)
    what = "timed out" if timed_out else (str(exc) or type(exc).__name__)
    return ProviderError(f"the {model} did not answer: {what}", retryable=True)


def _detail(status: int, body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return message[:500]
    return f"HTTP {status}"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return min(float(value), 300.0) if value else None
    except ValueError:
        return None
