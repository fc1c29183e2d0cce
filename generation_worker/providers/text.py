"""`create_text_provider(settings)`: the configured text back-end (`TEXT_PROVIDER`)."""

from __future__ import annotations

from chassis.settings import Settings
from generation_worker.providers.base import TextProvider
from generation_worker.providers.offline import OfflineProvider
from generation_worker.providers.openai_text import OpenAITextProvider, Sampling

PROVIDERS = ("openai", "offline")


def create_text_provider(settings: Settings) -> TextProvider:
    if settings.text_provider == "offline":
        return OfflineProvider(settings.offline_token_delay)
    if settings.text_provider == "openai":
        if not settings.llm_base_url and not settings.llm_api_key:
            raise SystemExit(
                "no text model: set LLM_BASE_URL (and LLM_API_KEY) to an OpenAI-compatible server, "
                "or TEXT_PROVIDER=offline for canned replies; `make dev` starts an embedded model"
            )
        return OpenAITextProvider(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            timeout=settings.llm_timeout,
            stream_usage=settings.llm_stream_usage,
            sampling=Sampling(
                top_p=settings.llm_top_p,
                min_p=settings.llm_min_p,
                repeat_penalty=settings.llm_repeat_penalty,
            ),
        )
    raise SystemExit(f"unknown TEXT_PROVIDER {settings.text_provider!r}: use one of {', '.join(PROVIDERS)}")
