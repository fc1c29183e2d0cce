"""Video variants with ffmpeg: the `original` remuxed without metadata (GPS atoms, chapters,
data tracks), a `poster` frame and its `thumbnail` (WebP), and `optimized`: H.264/AAC MP4 with
`faststart`, at most 720p. A source that already is a small H.264/AAC MP4 is remuxed instead of
encoded again (same pixels, much faster)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from generation_worker.media import ffmpeg, images
from generation_worker.media.errors import MediaRejected
from generation_worker.media.ffmpeg import VideoInfo

# At most 720p: the long side fits 1280 and the short side 720 (portrait videos too).
MAX_LONG, MAX_SHORT = 1280, 720
# A source at or under this bitrate that needs no resize is remuxed, not re-encoded.
COPY_MAX_KBPS = 4000
X264_PRESET = "veryfast"
X264_CRF = "23"
AUDIO_BITRATE = "128k"
FFMPEG_THREADS = "2"
EXTENSIONS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}

Report = Callable[[str, float], Awaitable[None]]


@dataclass
class VideoOutputs:
    info: VideoInfo
    original: Path
    optimized: Path
    optimized_size: tuple[int, int]
    poster: images.Encoded
    thumbnail: images.Encoded


def target_size(width: int, height: int) -> tuple[int, int]:
    """Fit into 1280×720 (or 720×1280), even dimensions as H.264 4:2:0 needs."""
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, MAX_LONG / long_side, MAX_SHORT / short_side)
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


def can_copy(info: VideoInfo, size: tuple[int, int]) -> bool:
    return (
        info.video_codec == "h264"
        and info.pixel_format == "yuv420p"
        and info.audio_codec in (None, "aac")
        and size == (info.width, info.height)
        and info.rotation == 0
        and info.bitrate_kbps is not None
        and info.bitrate_kbps <= COPY_MAX_KBPS
        and "mp4" in info.container
    )


def _fraction(block: dict[str, str], info: VideoInfo) -> float | None:
    """How far an ffmpeg run is, from its own `-progress` block: frames encoded over frames
    expected when the frame rate is known, else output time over duration."""
    if not info.duration:
        return None
    frame = block.get("frame", "")
    if info.fps and frame.isdigit():
        return int(frame) / max(1.0, info.duration * info.fps)
    out_us = block.get("out_time_us", "")
    if out_us.lstrip("-").isdigit():
        return max(0, int(out_us)) / 1e6 / info.duration
    return None


async def make_video_variants(
    source: Path,
    content_type: str,
    work: Path,
    report: Report,
    *,
    max_pixels: int,
    timeout: float,
    cancelled: asyncio.Event | None = None,
) -> VideoOutputs:
    """Stages reported as fractions of this step: probe, original, poster, optimized."""
    await report("probe", 0.0)
    info = await ffmpeg.probe(source)
    if info.width * info.height > max_pixels:
        raise MediaRejected(f"the video is {info.width}×{info.height}, over the pixel limit")
    await report("probe", 0.02)

    ext = EXTENSIONS.get(content_type, "mp4")
    original = work / f"original.{ext}"
    mov_flags = ["-movflags", "+faststart"] if ext in ("mp4", "mov") else []

    async def remux_progress(block: dict[str, str]) -> None:
        if (f := _fraction(block, info)) is not None:
            await report("original", (2 + 10 * min(f, 1.0)) / 100)

    try:
        await ffmpeg.run(
            ["-i", str(source), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
             "-map_metadata", "-1", "-map_chapters", "-1", *mov_flags, str(original)],
            on_progress=remux_progress, timeout=timeout, cancelled=cancelled,
        )  # fmt: skip
    except ffmpeg.FfmpegFailed as exc:
        raise MediaRejected(f"the video could not be read: {_last_line(exc.stderr)}") from None
    await report("original", 0.12)

    size = target_size(info.width, info.height)
    poster_png = work / "poster.png"
    at = min(1.0, (info.duration or 0) * 0.1)
    try:
        await ffmpeg.run(
            ["-ss", f"{at:.3f}", "-i", str(source), "-map", "0:v:0", "-frames:v", "1",
             "-vf", f"scale={size[0]}:{size[1]}", "-map_metadata", "-1", str(poster_png)],
            timeout=timeout, cancelled=cancelled,
        )  # fmt: skip
    except ffmpeg.FfmpegFailed as exc:
        raise MediaRejected(f"no frame could be decoded: {_last_line(exc.stderr)}") from None
    if not poster_png.exists():
        raise MediaRejected("the video has no decodable frame")
    poster, thumb = await asyncio.to_thread(_poster_variants, poster_png)
    await report("poster", 0.18)

    optimized = work / "optimized.mp4"

    async def encode_progress(block: dict[str, str]) -> None:
        if (f := _fraction(block, info)) is not None:
            await report("optimized", (18 + 82 * min(f, 1.0)) / 100)

    if can_copy(info, size):
        args = ["-i", str(source), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"]
    else:
        args = [
            "-i", str(source), "-map", "0:v:0", "-map", "0:a:0?",
            "-vf", f"scale={size[0]}:{size[1]},format=yuv420p",
            "-c:v", "libx264", "-preset", X264_PRESET, "-crf", X264_CRF, "-profile:v", "high",
            "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ac", "2", "-threads", FFMPEG_THREADS,
        ]  # fmt: skip
    args += ["-map_metadata", "-1", "-map_chapters", "-1",
             "-movflags", "+faststart", "-f", "mp4", str(optimized)]  # fmt: skip
    try:
        await ffmpeg.run(args, on_progress=encode_progress, timeout=timeout, cancelled=cancelled)
    except ffmpeg.FfmpegFailed as exc:
        raise MediaRejected(f"the video could not be transcoded: {_last_line(exc.stderr)}") from None
    await report("optimized", 1.0)
    return VideoOutputs(info, original, optimized, size, poster, thumb)


def _poster_variants(png: Path) -> tuple[images.Encoded, images.Encoded]:
    with Image.open(png) as frame:
        frame.load()
        rgb = frame.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "WEBP", quality=images.WEBP_QUALITY, method=4)
    poster = images.Encoded(out.getvalue(), "image/webp", rgb.width, rgb.height)
    return poster, images.thumbnail(rgb)


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "unknown error"
