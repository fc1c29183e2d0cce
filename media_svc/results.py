"""The `results.media` consumer: each job's outcome persisted exactly once (idempotent by job id,
acked only after the database has it and `media_ready`/`media_failed` is published, retried
while the database is away)."""

from __future__ import annotations

import msgspec
import structlog
from nats.js import JetStreamContext

from chassis.consumer import ConsumerSpec, Delivery, PullConsumer, Retry
from chassis.db import is_unavailable
from chassis.settings import Settings
from chassis.storage import StorageUnavailable
from media_svc.service import MediaService
from proto.media import media_result_decoder
from proto.subjects import RESULTS_MEDIA, STREAM_RESULTS

log = structlog.get_logger("media_svc.results")

DURABLE = "media-results"
RETRY_DELAY = 2.0


def results_consumer(js: JetStreamContext, service: MediaService, settings: Settings) -> PullConsumer:
    async def handle(delivery: Delivery) -> None:
        try:
            result = media_result_decoder.decode(delivery.data)
        except msgspec.DecodeError as exc:
            # It can never be applied; retrying would only block the ones behind it.
            log.error("malformed media result dropped", error=str(exc), job_id=delivery.header("Job-Id"))
            return
        try:
            await service.apply_result(result)
        except StorageUnavailable as exc:
            raise Retry(f"storage unavailable: {exc}", RETRY_DELAY) from exc
        except Exception as exc:
            if is_unavailable(exc):
                raise Retry(f"database unavailable: {exc!r}", RETRY_DELAY) from exc
            raise

    spec = ConsumerSpec(
        stream=STREAM_RESULTS,
        subject=RESULTS_MEDIA,
        durable=DURABLE,
        handler=handle,
        concurrency=4,
        ack_wait=settings.job_ack_wait,
        # A result is never given up on: it waits for the database however long that takes.
        max_deliver=-1,
        backoff_base=settings.job_backoff_base,
    )
    return PullConsumer(js, spec, shutdown_grace=settings.worker_shutdown_grace)
