"""The media job kinds: `media-process` (variants of an upload), `media-image` (generate, then
variants) and `media-video` (render from the persona's images, then variants).

Every job ends the same way, whatever happened: one `results.media` message (ready or failed) for
media_svc to persist; media_svc then announces `media_ready` or `media_failed` on the owner's
`user:<id>` (state before event). Transient failures (storage, provider 5xx) are retried; on the
last attempt they end as a failed result too, so a job never disappears without its item leaving
`processing`."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import structlog
from nats.js.kv import KeyValue

from chassis.consumer import Fatal, Retry
from chassis.jobs import publish_result
from chassis.settings import Settings
from chassis.storage import ObjectNotFound, Storage, open_storage
from generation_worker.kinds import JobContext, JobKind
from generation_worker.media.errors import MediaRejected
from generation_worker.media.ffmpeg import Cancelled
from generation_worker.media.pipeline import image_variants, original_key, video_variants
from generation_worker.media.progress import Progress, job_progress, progress_bucket
from generation_worker.media.providers.image import ImageProvider, ImageRequest, image_provider, parse_size
from generation_worker.media.providers.video import VideoProvider, VideoRequest, video_provider
from generation_worker.providers.base import ProviderError
from proto.media import (
    MediaKind,
    MediaProgress,
    MediaResult,
    image_generation_job_decoder,
    media_process_job_decoder,
    video_generation_job_decoder,
)
from proto.subjects import JOBS_MEDIA_IMAGE, JOBS_MEDIA_PROCESS, JOBS_MEDIA_VIDEO, RESULTS_MEDIA, user_channel

log = structlog.get_logger("generation_worker.media")

Work = Callable[[Storage, Progress, Path], Awaitable[MediaResult]]


class MediaJobs:
    def __init__(
        self,
        settings: Settings,
        images: ImageProvider | None = None,
        videos: VideoProvider | None = None,
    ) -> None:
        self.settings = settings
        self.images = images or image_provider(settings)
        self.videos = videos or video_provider(settings)
        self._bucket: KeyValue | None = None

    def kinds(self) -> list[JobKind]:
        concurrency = self.settings.worker_media_concurrency
        return [
            JobKind("media-process", JOBS_MEDIA_PROCESS, self.process, concurrency, close=self.close),
            JobKind("media-image", JOBS_MEDIA_IMAGE, self.generate_image, concurrency),
            JobKind("media-video", JOBS_MEDIA_VIDEO, self.generate_video, concurrency),
        ]

    async def close(self) -> None:
        await self.images.close()

    def _work_dir(self) -> Path:
        # Under DATA_DIR, not /tmp: videos are large and /tmp is often memory-backed.
        root = Path(self.settings.data_dir) / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="media-", dir=root))

    async def _progress(self, ctx: JobContext, job_id: str, media_id: str, user_id: str) -> Progress:
        if self._bucket is None:
            try:
                self._bucket = await progress_bucket(ctx.js, ctx.settings)
            except Exception as exc:  # noqa: BLE001 - events still carry the progress
                log.warning("no progress bucket", error=repr(exc))
        channel = user_channel(user_id)

        async def publish(event: MediaProgress) -> object:
            return await ctx.events.publish([channel], event)

        return job_progress(
            job_id=job_id,
            media_id=media_id,
            publish=publish,
            bucket=self._bucket,
            heartbeat=ctx.heartbeat,
            attempt=ctx.attempt,
        )

    async def _run(
        self,
        ctx: JobContext,
        *,
        media_id: str,
        kind: MediaKind,
        work: Work,
    ) -> None:
        job = ctx.job
        progress = await self._progress(ctx, job.job_id, media_id, job.user_id)
        async with open_storage(ctx.settings) as storage:
            folder = await asyncio.to_thread(self._work_dir)
            try:
                if ctx.cancelled.is_set():
                    raise Cancelled("cancelled")
                result = await work(storage, progress, folder)
            except MediaRejected as exc:
                reason = exc.reason
            except Cancelled:
                reason = "cancelled"
            except ProviderError as exc:
                if exc.retryable and not ctx.delivery.final_attempt:
                    raise Retry(exc.reason, exc.retry_after) from exc
                reason = exc.reason
            except Exception as exc:
                if not ctx.delivery.final_attempt:
                    raise
                log.exception("media job failed on its last attempt", media_id=media_id)
                reason = f"processing failed after {ctx.attempt} attempts ({type(exc).__name__})"
            else:
                result = msgspec.structs.replace(result, job_id=job.job_id, user_id=job.user_id)
                await publish_result(ctx.js, RESULTS_MEDIA, job.job_id, result)
                log.info("media ready", media_id=media_id, kind=kind, variants=sorted(result.variants))
                return
            finally:
                await asyncio.to_thread(shutil.rmtree, folder, True)
            # Nothing of a failed item is worth keeping: drop the upload and any partial variants.
            with contextlib.suppress(Exception):
                await storage.delete_prefix(f"{media_id}/")
        log.info("media failed", media_id=media_id, reason=reason)
        failed = MediaResult(
            job_id=job.job_id,
            user_id=job.user_id,
            media_id=media_id,
            status="failed",
            kind=kind,
            error=reason,
        )
        await publish_result(ctx.js, RESULTS_MEDIA, job.job_id, failed)

    async def process(self, ctx: JobContext) -> None:
        try:
            job = media_process_job_decoder.decode(ctx.data)
        except msgspec.ValidationError as exc:
            raise Fatal(f"malformed media job: {exc}") from None
        settings = ctx.settings

        async def work(storage: Storage, progress: Progress, folder: Path) -> MediaResult:
            source = job.upload_key
            cleaned = original_key(job.media_id, job.content_type)
            if not await storage.exists(source):
                # Redelivered after the upload was replaced by its cleaned original.
                if not await storage.exists(cleaned):
                    raise MediaRejected("the uploaded file is no longer stored (was the media deleted?)")
                source = cleaned
            async with storage.as_file(source) as path:
                if job.kind == "image":
                    result = await image_variants(storage, job.media_id, path, progress, settings)
                else:
                    result = await video_variants(
                        storage,
                        job.media_id,
                        path,
                        job.content_type,
                        folder,
                        progress,
                        settings,
                        ctx.cancelled,
                    )
            if source != cleaned:
                await storage.delete([source])
            return result

        await self._run(ctx, media_id=job.media_id, kind=job.kind, work=work)

    async def generate_image(self, ctx: JobContext) -> None:
        try:
            job = image_generation_job_decoder.decode(ctx.data)
        except msgspec.ValidationError as exc:
            raise Fatal(f"malformed image job: {exc}") from None
        width, height = parse_size(ctx.settings.image_size)
        request = ImageRequest(
            prompt=job.prompt,
            persona_id=job.persona_id,
            persona_name=job.persona_name,
            width=width,
            height=height,
        )

        async def work(storage: Storage, progress: Progress, folder: Path) -> MediaResult:
            drawing = progress.scoped(0.0, 0.6)

            async def on_fraction(fraction: float) -> None:
                await drawing.report("generate", fraction)

            await on_fraction(0.0)
            generated = await self.images.generate(request, on_fraction)
            path = folder / "generated"
            await asyncio.to_thread(path.write_bytes, generated.data)
            result = await image_variants(
                storage, job.media_id, path, progress.scoped(0.6, 1.0), ctx.settings, keep_original=True
            )
            return msgspec.structs.replace(result, provider=generated.provider, label=generated.label)

        await self._run(ctx, media_id=job.media_id, kind="image", work=work)

    async def generate_video(self, ctx: JobContext) -> None:
        try:
            job = video_generation_job_decoder.decode(ctx.data)
        except msgspec.ValidationError as exc:
            raise Fatal(f"malformed video job: {exc}") from None
        request = VideoRequest(prompt=job.prompt, persona_id=job.persona_id, persona_name=job.persona_name)

        async def work(storage: Storage, progress: Progress, folder: Path) -> MediaResult:
            fetching, rendering = progress.scoped(0.0, 0.05), progress.scoped(0.05, 0.6)

            async def on_fraction(fraction: float) -> None:
                await rendering.report("render", fraction)

            async with contextlib.AsyncExitStack() as stack:
                paths = []
                for i, key in enumerate(job.image_keys, start=1):
                    try:
                        paths.append(await stack.enter_async_context(storage.as_file(key)))
                    except ObjectNotFound:
                        continue  # deleted since the job was queued
                    await fetching.report("images", i / len(job.image_keys))
                if not paths:
                    raise MediaRejected("the persona's images are no longer stored")
                generated = await self.videos.render(
                    request, paths, folder, on_fraction, cancelled=ctx.cancelled
                )
            result = await video_variants(
                storage, job.media_id, generated.path, "video/mp4", folder, progress.scoped(0.6, 1.0),
                ctx.settings, ctx.cancelled,
            )  # fmt: skip
            return msgspec.structs.replace(result, provider=generated.provider, label=generated.label)

        await self._run(ctx, media_id=job.media_id, kind="video", work=work)


def kinds(settings: Settings) -> list[JobKind]:
    return MediaJobs(settings).kinds()
