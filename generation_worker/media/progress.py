"""Job progress as users see it: one `percent` for the whole job that never goes back, and the
name of the step running. Every update comes from work done (bytes stored, layers drawn, frames
ffmpeg reports encoded); each one that moves the percent is sent as `media_progress`, kept in
the `media_progress` bucket for `GET /media/jobs/{id}`, and heartbeats the job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from chassis.bus import ensure_kv
from chassis.settings import Settings
from proto.codec import json_encoder
from proto.media import KV_MEDIA_PROGRESS, MediaProgress, MediaProgressState

log = structlog.get_logger("generation_worker.media")

DAY = 24 * 3600.0

Emit = Callable[[str, int], Awaitable[None]]


async def progress_bucket(js: JetStreamContext, settings: Settings) -> KeyValue:
    return await ensure_kv(
        js,
        api.KeyValueConfig(
            bucket=KV_MEDIA_PROGRESS,
            ttl=DAY,
            history=1,
            replicas=settings.js_replicas,
            storage=api.StorageType.FILE,
        ),
    )


class Progress:
    """A view on the job's progress: fractions 0..1 reported here land in [lo, hi] of the whole."""

    def __init__(self, sink: ProgressSink, lo: float = 0.0, hi: float = 1.0) -> None:
        self.sink = sink
        self.lo = lo
        self.hi = hi

    def scoped(self, lo: float, hi: float) -> Progress:
        span = self.hi - self.lo
        return Progress(self.sink, self.lo + lo * span, self.lo + hi * span)

    async def report(self, stage: str, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        await self.sink.update(stage, self.lo + fraction * (self.hi - self.lo))


class ProgressSink:
    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.stage = ""
        self.percent = -1
        self.sent: list[tuple[str, int]] = []

    async def update(self, stage: str, overall: float) -> None:
        # The epsilon keeps 0.6 × 0.75 at 45 rather than 44.999… → 44.
        percent = max(self.percent, min(100, int(overall * 100 + 1e-6)))
        if percent == self.percent and stage == self.stage:
            return
        self.stage, self.percent = stage, percent
        self.sent.append((stage, percent))
        await self.emit(stage, percent)


def job_progress(
    *,
    job_id: str,
    media_id: str,
    publish: Callable[[MediaProgress], Awaitable[object]],
    bucket: KeyValue | None,
    heartbeat: Callable[[], Awaitable[None]],
    attempt: int = 1,
) -> Progress:
    async def emit(stage: str, percent: int) -> None:
        await publish(
            MediaProgress(job_id=job_id, media_id=media_id, stage=stage, percent=percent, attempt=attempt)
        )
        if bucket is not None:
            state = MediaProgressState(job_id=job_id, media_id=media_id, stage=stage, percent=percent)
            try:
                await bucket.put(job_id, json_encoder.encode(state))
            except Exception as exc:  # noqa: BLE001 - the event went out; the bucket is a nicety
                log.warning("could not record progress", error=repr(exc))
        try:
            await heartbeat()
        except Exception:  # noqa: BLE001 - the consumer's own heartbeat timer still runs
            pass

    return Progress(ProgressSink(emit))
