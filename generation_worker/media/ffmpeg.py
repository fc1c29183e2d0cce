"""Running ffmpeg (the binary from the imageio-ffmpeg wheel): probing a file, and runs whose
progress comes from ffmpeg's own `-progress` output (`frame=`, `out_time_us=` blocks)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg

from generation_worker.media.errors import MediaRejected

OnProgress = Callable[[dict[str, str]], Awaitable[None]]
STDERR_TAIL = 40


class FfmpegFailed(Exception):
    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


class Cancelled(Exception):
    pass


def ffmpeg_exe() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


async def run(
    args: list[str],
    *,
    on_progress: OnProgress | None = None,
    timeout: float = 1800.0,
    cancelled: asyncio.Event | None = None,
) -> None:
    """Run ffmpeg with `args`; `on_progress` gets each `-progress` block as a dict."""
    head = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    if on_progress is not None:
        head += ["-nostats", "-progress", "pipe:1", "-stats_period", "0.25"]
    proc = await asyncio.create_subprocess_exec(
        *head, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    tail: deque[str] = deque(maxlen=STDERR_TAIL)

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            tail.append(line.decode("utf-8", "replace").rstrip())

    async def read_progress() -> None:
        assert proc.stdout is not None
        block: dict[str, str] = {}
        async for raw in proc.stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            block[key] = value
            if key == "progress":
                if on_progress is not None:
                    await on_progress(block)
                block = {}

    async def until_cancelled() -> None:
        if cancelled is None:
            await asyncio.Event().wait()
        else:
            await cancelled.wait()

    work = asyncio.gather(read_stderr(), read_progress(), proc.wait())
    stop = asyncio.ensure_future(until_cancelled())
    try:
        waiting: set[asyncio.Future[Any]] = {work, stop}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if work not in done:
            raise Cancelled("cancelled") if stop in done else FfmpegFailed("ffmpeg timed out", "")
        work.result()
    finally:
        stop.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if not work.done():
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
    if proc.returncode != 0:
        raise FfmpegFailed(f"ffmpeg exited with {proc.returncode}", "\n".join(tail))


@dataclass
class VideoInfo:
    duration: float | None
    # As displayed (rotation applied).
    width: int
    height: int
    video_codec: str
    pixel_format: str
    fps: float | None
    audio_codec: str | None
    bitrate_kbps: int | None
    rotation: int
    container: str


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_BITRATE = re.compile(r"bitrate: (\d+) kb/s")
_INPUT = re.compile(r"Input #0, ([\w,]+), from")
_VIDEO = re.compile(r"Stream #0:\d+[^:]*: Video: (\w+)(.*)")
_AUDIO = re.compile(r"Stream #0:\d+[^:]*: Audio: (\w+)")
_SIZE = re.compile(r"\b(\d{1,5})x(\d{1,5})\b")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_PIXFMT = re.compile(r", ((?:yuv|yuvj|nv|rgb|bgr|gbr|gray|p0|argb|rgba|bgra)\w*)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


async def probe(path: Path, *, timeout: float = 60.0) -> VideoInfo:
    """Read a video's streams from ffmpeg's description of its input (no ffprobe in the wheel)."""
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise MediaRejected("the video could not be read in time") from None
    text = err.decode("utf-8", "replace")
    return parse_probe(text)


def parse_probe(text: str) -> VideoInfo:
    video = _VIDEO.search(text)
    if video is None or "Invalid data found" in text:
        raise MediaRejected("the file has no readable video stream")
    codec, rest = video.group(1), video.group(2)
    size = _SIZE.search(rest)
    if size is None:
        raise MediaRejected("the video's frame size is unknown")
    width, height = int(size.group(1)), int(size.group(2))
    if width == 0 or height == 0:
        raise MediaRejected("the video's frame size is unknown")
    duration = None
    if m := _DURATION.search(text):
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    fps = float(m.group(1)) if (m := _FPS.search(rest)) else None
    rotation = 0
    if m := _ROTATION.search(text):
        rotation = round(float(m.group(1))) % 360
    if rotation in (90, 270):
        width, height = height, width
    audio = _AUDIO.search(text)
    bitrate = int(m.group(1)) if (m := _BITRATE.search(text)) else None
    pixfmt = m.group(1) if (m := _PIXFMT.search(rest)) else ""
    container = m.group(1) if (m := _INPUT.search(text)) else ""
    return VideoInfo(
        duration=duration,
        width=width,
        height=height,
        video_codec=codec,
        pixel_format=pixfmt,
        fps=fps if fps and fps > 0 else None,
        audio_codec=audio.group(1) if audio else None,
        bitrate_kbps=bitrate,
        rotation=rotation,
        container=container,
    )
