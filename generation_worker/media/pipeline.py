"""The variant step every media item goes through, uploaded or generated: make the variants of
a source file, store them under `<media_id>/`, and describe the result."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chassis.settings import Settings
from chassis.storage import Storage
from generation_worker.media import images, video
from generation_worker.media.progress import Progress
from proto.media import MediaKind, MediaResult, StoredVariant

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
}
# Writes of variants held in memory go out in pieces this big, so progress follows the bytes.
STORE_PIECE = 1024 * 1024


def original_key(media_id: str, content_type: str) -> str:
    return f"{media_id}/original.{EXTENSIONS.get(content_type, 'bin')}"


class Saver:
    """Stores a job's variants and reports the bytes stored as progress over their total."""

    def __init__(self, storage: Storage, progress: Progress, total: int) -> None:
        self.storage = storage
        self.progress = progress
        self.total = max(total, 1)
        self.done = 0
        self.variants: dict[str, StoredVariant] = {}

    async def _stored(self, count: int) -> None:
        self.done += count
        await self.progress.report("store", self.done / self.total)

    async def put_bytes(self, name: str, key: str, encoded: images.Encoded) -> None:
        writer = self.storage.writer(key, encoded.content_type)
        try:
            for i in range(0, len(encoded.data), STORE_PIECE):
                piece = encoded.data[i : i + STORE_PIECE]
                await writer.write(piece)
                await self._stored(len(piece))
            size = await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        self.variants[name] = StoredVariant(
            key=key, content_type=encoded.content_type, size=size, width=encoded.width, height=encoded.height
        )

    async def put_file(
        self, name: str, key: str, path: Path, content_type: str, width: int, height: int
    ) -> None:
        before = self.done

        async def on_bytes(written: int) -> None:
            self.done = before + written
            await self.progress.report("store", self.done / self.total)

        size = await self.storage.put_file(key, path, content_type, on_bytes)
        self.done = before + size
        self.variants[name] = StoredVariant(
            key=key, content_type=content_type, size=size, width=width, height=height
        )


async def image_variants(
    storage: Storage,
    media_id: str,
    source: Path,
    progress: Progress,
    settings: Settings,
    *,
    keep_original: bool = False,
) -> MediaResult:
    """`keep_original`: store the source bytes as they are (generated images keep their
    provenance metadata); uploads get their metadata stripped."""
    cap = settings.max_image_pixels
    await progress.report("decode", 0.0)
    decoded = await asyncio.to_thread(images.decode, source, cap)
    await progress.report("decode", 0.25)
    optimized, smaller = await asyncio.to_thread(images.optimized, decoded)
    await progress.report("optimized", 0.45)
    thumbnail = await asyncio.to_thread(images.thumbnail, smaller)
    await progress.report("thumbnail", 0.55)
    if keep_original:
        data = await asyncio.to_thread(source.read_bytes)
        original = images.Encoded(data, decoded.content_type, decoded.width, decoded.height)
    else:
        original = await asyncio.to_thread(images.clean_original, source, decoded, cap)
    await progress.report("original", 0.65)
    saver = Saver(
        storage, progress.scoped(0.65, 1.0), len(original.data) + len(optimized.data) + len(thumbnail.data)
    )
    await saver.put_bytes("original", original_key(media_id, original.content_type), original)
    await saver.put_bytes("optimized", f"{media_id}/optimized.webp", optimized)
    await saver.put_bytes("thumbnail", f"{media_id}/thumbnail.webp", thumbnail)
    return _result(media_id, "image", original.content_type, decoded.width, decoded.height, None, saver)


async def video_variants(
    storage: Storage,
    media_id: str,
    source: Path,
    content_type: str,
    work: Path,
    progress: Progress,
    settings: Settings,
    cancelled: asyncio.Event | None = None,
) -> MediaResult:
    making = progress.scoped(0.0, 0.88)

    async def report(stage: str, fraction: float) -> None:
        await making.report(stage, fraction)

    out = await video.make_video_variants(
        source,
        content_type,
        work,
        report,
        max_pixels=settings.max_image_pixels,
        timeout=settings.media_ffmpeg_timeout,
        cancelled=cancelled,
    )
    sizes = [out.original.stat().st_size, out.optimized.stat().st_size]
    saver = Saver(
        storage, progress.scoped(0.88, 1.0), sum(sizes) + len(out.poster.data) + len(out.thumbnail.data)
    )
    info = out.info
    await saver.put_file(
        "original", original_key(media_id, content_type), out.original, content_type, info.width, info.height
    )
    w, h = out.optimized_size
    await saver.put_file("optimized", f"{media_id}/optimized.mp4", out.optimized, "video/mp4", w, h)
    await saver.put_bytes("poster", f"{media_id}/poster.webp", out.poster)
    await saver.put_bytes("thumbnail", f"{media_id}/thumbnail.webp", out.thumbnail)
    duration = round(info.duration, 3) if info.duration else None
    return _result(media_id, "video", content_type, info.width, info.height, duration, saver)


def _result(
    media_id: str,
    kind: MediaKind,
    content_type: str,
    width: int,
    height: int,
    duration: float | None,
    saver: Saver,
) -> MediaResult:
    return MediaResult(
        job_id="",
        user_id="",
        media_id=media_id,
        status="ready",
        kind=kind,
        content_type=content_type,
        size=saver.variants["original"].size,
        width=width,
        height=height,
        duration=duration,
        variants=saver.variants,
    )
