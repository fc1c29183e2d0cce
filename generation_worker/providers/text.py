"""`create_text_provider(settings)`: the configured text back-end (`TEXT_PROVIDER`)."""

from __future__ import annotations

from chassis.settings import Settings
from generation_worker.providers.base import TextProvider
from generation_worker.providers.offline import OfflineProvider
from generation_worker.providers.openai_text import OpenAITextProvider

PROVIDERS = ("offline", "openai")


def create_text_provider(settings: Settings) -> TextProvider:
    if settings.text_provider == "offline":
        return OfflineProvider(settings.offline_token_delay)
    if settings.text_provider == "openai":
        return OpenAITextProvider(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            timeout=settings.llm_timeout,
            stream_usage=settings.llm_stream_usage,
        )
    raise SystemExit(f"unknown TEXT_PROVIDER {settings.text_provider!r}: use one of {', '.join(PROVIDERS)}")
