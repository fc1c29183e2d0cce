"""The `results.media` consumer: each job's outcome persisted exactly once (idempotent by job id,
acked only after the database has it and `media_ready`/`media_failed` is published, retried
while the database or the object store is away)."""

from __future__ import annotations

from chassis.storage import StorageUnavailable
from chassis.subscribers import Subscriber
from media_svc.service import MediaService
from proto.media import MediaResult, media_result_decoder
from proto.subjects import RESULTS_MEDIA

DURABLE = "media-results"
RETRY_DELAY = 2.0


def results_subscriber(service: MediaService) -> Subscriber[MediaResult]:
    return Subscriber(
        subject=RESULTS_MEDIA,
        durable=DURABLE,
        decoder=media_result_decoder,
        handler=service.apply_result,
        concurrency=4,
        retry_delay=RETRY_DELAY,
        unavailable=(StorageUnavailable,),
    )
