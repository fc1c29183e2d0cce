"""The streams and buckets of the mesh, created idempotently by every component at start."""

from __future__ import annotations

from typing import Any

from nats.js import JetStreamContext, api

from chassis.bus import ensure_kv, ensure_object_store, ensure_stream
from chassis.settings import Settings
from proto import subjects

DAY = 24 * 3600.0


def stream_configs(settings: Settings) -> list[api.StreamConfig]:
    def stream(
        name: str,
        members: list[str],
        max_age: float,
        retention: api.RetentionPolicy = api.RetentionPolicy.LIMITS,
        **options: Any,
    ) -> api.StreamConfig:
        return api.StreamConfig(
            name=name,
            subjects=members,
            retention=retention,
            storage=api.StorageType.FILE,
            num_replicas=settings.js_replicas,
            max_age=max_age,
            **options,
        )

    return [
        stream(
            subjects.STREAM_JOBS,
            list(subjects.JOB_SUBJECTS),
            7 * DAY,
            retention=api.RetentionPolicy.WORK_QUEUE,
            duplicate_window=120.0,
        ),
        stream(subjects.STREAM_DEAD, [subjects.JOBS_DEAD], 14 * DAY),
        stream(subjects.STREAM_RESULTS, list(subjects.RESULT_SUBJECTS), 7 * DAY, duplicate_window=120.0),
        stream(
            subjects.STREAM_EVENTS,
            [subjects.EVENTS_ALL],
            settings.events_max_age,
            max_bytes=settings.events_max_bytes,
            # Terminal events carry a message id (chassis.events, `once`): a service that stopped
            # between its commit and its ack publishes again on redelivery, and EVENTS keeps the
            # first copy. As long as the events are kept, so only a copy already expired can repeat.
            duplicate_window=settings.events_max_age,
            republish=api.RePublish(
                src=subjects.EVENTS_ALL, dest=f"{subjects.LIVE_PREFIX}.{subjects.EVENTS_ALL}"
            ),
        ),
    ]


async def ensure_all(js: JetStreamContext, settings: Settings) -> None:
    for config in stream_configs(settings):
        await ensure_stream(js, config)
    buckets = {
        subjects.KV_REVOKED: settings.access_token_ttl + 60.0,
        subjects.KV_CANCELS: settings.worker_cancel_ttl,
        subjects.KV_SSE_TICKETS: settings.sse_ticket_ttl,
        # A drop matters while a stream opened before the removal may still be open or opening.
        subjects.KV_CHANNEL_DROPS: subjects.CHANNEL_DROPS_TTL,
        subjects.KV_PRESENCE: subjects.PRESENCE_TTL,
    }
    for bucket, ttl in buckets.items():
        await ensure_kv(
            js,
            api.KeyValueConfig(
                bucket=bucket, ttl=ttl, replicas=settings.js_replicas, storage=api.StorageType.FILE
            ),
        )
    await ensure_object_store(
        js,
        api.ObjectStoreConfig(
            bucket=subjects.OBJ_BODIES,
            ttl=3600.0,
            replicas=settings.js_replicas,
            storage=api.StorageType.FILE,
        ),
    )
