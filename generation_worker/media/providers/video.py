"""The video provider protocol: a prompt and the persona's images in, an MP4 file out.

`VIDEO_PROVIDER` picks one: `slideshow` (default: ffmpeg pans and zooms over the persona's
images, no model). An HTTP video back-end plugs in behind the same protocol."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chassis.settings import Settings
from generation_worker.media.providers.image import OnFraction


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    persona_id: str
    persona_name: str = ""


@dataclass(frozen=True)
class GeneratedVideo:
    path: Path
    provider: str
    model: str
    label: str


class VideoProvider(Protocol):
    name: str

    async def render(
        self,
        request: VideoRequest,
        images: list[Path],
        work: Path,
        on_fraction: OnFraction,
        *,
        cancelled: asyncio.Event | None = None,
    ) -> GeneratedVideo:
        """Write the video under `work`; raises ProviderError or MediaRejected."""
        ...


def video_provider(settings: Settings) -> VideoProvider:
    if settings.video_provider == "slideshow":
        from generation_worker.media.providers.slideshow import SlideshowProvider

        return SlideshowProvider(
            seconds_per_image=settings.slideshow_seconds_per_image, timeout=settings.media_ffmpeg_timeout
        )
    raise SystemExit(f"unknown VIDEO_PROVIDER {settings.video_provider!r}: use slideshow")
