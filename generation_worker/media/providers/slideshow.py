"""The `slideshow` video provider: an MP4 made by ffmpeg from the persona's images, each shown
with a slow pan or zoom and cross-faded, after a title card with the persona's name and the
prompt. No model: the title card and the result's label say so. Progress is the frames ffmpeg
reports encoded on `-progress` over the frames the filter graph will produce."""

from __future__ import annotations

import asyncio
import hashlib
import random
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

from generation_worker.media import ffmpeg
from generation_worker.media.errors import MediaRejected
from generation_worker.media.providers.image import ImageRequest, OnFraction
from generation_worker.media.providers.procedural import Painter
from generation_worker.media.providers.video import GeneratedVideo, VideoRequest
from generation_worker.providers.base import ProviderError

NAME = "slideshow"
MODEL = "slideshow-v1"
LABEL = "Slideshow of the persona's images rendered with ffmpeg; no AI model was used"
FPS = 25
OUT_W, OUT_H = 1280, 720
# Slides are prepared larger than the output so zooming in never upsamples.
SLIDE_W, SLIDE_H = 1920, 1080
TITLE_SECONDS = 2.5
FADE = 0.4
ZOOM = 0.15


def _motion(kind: int, frames: int) -> str:
    centre = "x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
    if kind == 0:  # zoom in
        return f"z='1+{ZOOM}*on/{frames}':{centre}"
    if kind == 1:  # zoom out
        return f"z='{1 + ZOOM}-{ZOOM}*on/{frames}':{centre}"
    if kind == 2:  # pan left to right
        return f"z='{1 + ZOOM}':x='(iw-iw/zoom)*on/{frames}':y='ih/2-(ih/zoom/2)'"
    return f"z='{1 + ZOOM}':x='(iw-iw/zoom)*(1-on/{frames})':y='ih/2-(ih/zoom/2)'"  # right to left


def _slide(source: Path, target: Path) -> None:
    """Fill 1920×1080: the image fitted over a blurred, darkened cover of itself."""
    try:
        with Image.open(source) as image:
            image.load()
            picture = ImageOps.exif_transpose(image) or image
            picture = picture.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected(f"a persona image could not be read ({exc})") from None
    cover = ImageOps.fit(picture.resize((192, 108)), (192, 108)).filter(ImageFilter.GaussianBlur(6))
    canvas = cover.resize((SLIDE_W, SLIDE_H), Image.Resampling.BILINEAR).point(lambda v: v * 6 // 10)
    fitted = ImageOps.contain(picture, (SLIDE_W, SLIDE_H), Image.Resampling.LANCZOS)
    canvas.paste(fitted, ((SLIDE_W - fitted.width) // 2, (SLIDE_H - fitted.height) // 2))
    # PNG, not JPEG: a JPEG decodes as full-range YUV, which would follow into the video.
    canvas.save(target, "PNG", compress_level=1)


def _title(request: VideoRequest, target: Path) -> None:
    painter = Painter(
        ImageRequest(
            prompt=request.prompt,
            persona_id=request.persona_id,
            persona_name=request.persona_name,
            width=SLIDE_W,
            height=SLIDE_H,
        )
    )
    canvas = painter.bokeh(painter.background()).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    big, small = ImageFont.load_default(size=96), ImageFont.load_default(size=44)
    lines = [(request.persona_name or "Persona", big)]
    lines += [(line, small) for line in textwrap.wrap(request.prompt, 60)[:4]]
    lines.append(("slideshow · no AI model", ImageFont.load_default(size=30)))
    heights = [draw.textbbox((0, 0), text, font=font)[3] + 24 for text, font in lines]
    y = (SLIDE_H - sum(heights)) // 2
    for (text, font), height in zip(lines, heights, strict=True):
        width = draw.textlength(text, font=font)
        draw.text(((SLIDE_W - width) / 2 + 3, y + 3), text, font=font, fill=(0, 0, 0))
        draw.text(((SLIDE_W - width) / 2, y), text, font=font, fill=(255, 255, 255))
        y += height
    canvas.save(target, "PNG", compress_level=1)


class SlideshowProvider:
    name = NAME

    def __init__(self, *, seconds_per_image: float = 3.0, timeout: float = 1800.0) -> None:
        self.seconds = max(1.0, seconds_per_image)
        self.timeout = timeout

    def plan(self, request: VideoRequest, count: int) -> list[tuple[int, int]]:
        """(frames, motion) per slide, the title card first; motions vary with the prompt."""
        rng = random.Random(hashlib.sha256(f"{request.persona_id}\n{request.prompt}".encode()).digest())
        slides = [(round(TITLE_SECONDS * FPS), 0)]
        slides += [(round(self.seconds * FPS), rng.randrange(4)) for _ in range(count)]
        return slides

    async def render(
        self,
        request: VideoRequest,
        images: list[Path],
        work: Path,
        on_fraction: OnFraction,
        *,
        cancelled: asyncio.Event | None = None,
    ) -> GeneratedVideo:
        if not images:
            raise MediaRejected("a slideshow needs at least one image of the persona")
        slides = [work / f"slide-{i:02d}.png" for i in range(len(images) + 1)]
        await asyncio.to_thread(_title, request, slides[0])
        for source, target in zip(images, slides[1:], strict=True):
            await asyncio.to_thread(_slide, source, target)
        plan = self.plan(request, len(images))
        total = sum(frames for frames, _ in plan)
        inputs: list[str] = []
        chains = []
        for i, (path, (frames, motion)) in enumerate(zip(slides, plan, strict=True)):
            inputs += ["-i", str(path)]
            seconds = frames / FPS
            chains.append(
                f"[{i}:v]zoompan={_motion(motion, frames)}:d={frames}:s={OUT_W}x{OUT_H}:fps={FPS},"
                f"fade=t=in:st=0:d={FADE},fade=t=out:st={seconds - FADE:.3f}:d={FADE},"
                f"setsar=1,format=yuv420p[v{i}]"
            )
        joined = "".join(f"[v{i}]" for i in range(len(slides)))
        graph = ";".join(chains) + f";{joined}concat=n={len(slides)}:v=1:a=0[out]"
        out = work / "slideshow.mp4"

        async def progress(block: dict[str, str]) -> None:
            frame = block.get("frame", "")
            if frame.isdigit():
                await on_fraction(min(int(frame) / total, 1.0))

        try:
            await ffmpeg.run(
                [*inputs, "-filter_complex", graph, "-map", "[out]", "-r", str(FPS),
                 "-c:v", "libx264", "-preset", "veryfast", "-crf", "22", "-pix_fmt", "yuv420p",
                 "-threads", "2", "-movflags", "+faststart", "-an", str(out)],
                on_progress=progress, timeout=self.timeout, cancelled=cancelled,
            )  # fmt: skip
        except ffmpeg.FfmpegFailed as exc:
            raise ProviderError(
                f"the slideshow could not be rendered: {exc.stderr[-300:]}", retryable=True
            ) from None
        await on_fraction(1.0)
        return GeneratedVideo(path=out, provider=NAME, model=MODEL, label=LABEL)
