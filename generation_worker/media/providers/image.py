"""The image provider protocol: a prompt (and the persona it is for) in, encoded image bytes out.

`IMAGE_PROVIDER` picks one: `procedural` (default: generative art drawn with Pillow, no model)
or `openai` (any OpenAI-compatible images endpoint)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from chassis.settings import Settings

# Called with the fraction of the image done (0..1), from real work where the back-end tells.
OnFraction = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    persona_id: str
    persona_name: str = ""
    width: int = 1024
    height: int = 1024


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    provider: str
    model: str
    # How the result describes itself to users, e.g. "procedural art, no AI model".
    label: str


class ImageProvider(Protocol):
    name: str

    async def generate(self, request: ImageRequest, on_fraction: OnFraction) -> GeneratedImage:
        """Raises ProviderError (generation_worker.providers.base) when the back-end fails."""
        ...

    async def close(self) -> None: ...


def parse_size(value: str) -> tuple[int, int]:
    width, _, height = value.lower().partition("x")
    try:
        w, h = int(width), int(height)
    except ValueError:
        return 1024, 1024
    return min(max(w, 64), 4096), min(max(h, 64), 4096)


def image_provider(settings: Settings) -> ImageProvider:
    if settings.image_provider == "openai":
        from generation_worker.media.providers.openai_images import OpenAIImageProvider

        return OpenAIImageProvider(
            base_url=settings.image_base_url or settings.llm_base_url,
            api_key=settings.image_api_key or settings.llm_api_key,
            model=settings.image_model,
            size=settings.image_size,
            timeout=max(settings.llm_timeout, 120.0),
            max_bytes=settings.max_image_bytes,
        )
    if settings.image_provider == "procedural":
        from generation_worker.media.providers.procedural import ProceduralImageProvider

        return ProceduralImageProvider()
    raise SystemExit(f"unknown IMAGE_PROVIDER {settings.image_provider!r}: use procedural or openai")
