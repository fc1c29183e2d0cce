"""The store contract, run against the in-memory store and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from media_svc.app import MIGRATIONS
from media_svc.store import Applied, JobRecord, MediaRecord, MediaStore
from media_svc.store_memory import MemoryMediaStore
from media_svc.store_pg import PgMediaStore
from proto.media import MediaResult, StoredVariant
from tests.support.pg import STORE_KINDS, Stores, migrated_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def media_db(postgres_url: str) -> str:
    return await migrated_database(postgres_url, "media", MIGRATIONS)


STORES = Stores[MediaStore](MemoryMediaStore, PgMediaStore, ("media", "media_jobs", "media_generation_slots"))


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, media_db: str) -> AsyncIterator[MediaStore]:
    async with STORES.open(request.param, media_db) as chosen:
        yield chosen


def records(
    owner: str = "u1",
    *,
    persona: str | None = "p1",
    at: datetime = T0,
    kind: str = "image",
    source: str = "upload",
    visibility: str = "private",
) -> tuple[MediaRecord, JobRecord]:
    media_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    media = MediaRecord(
        id=media_id,
        owner_id=owner,
        persona_id=persona,
        kind=kind,  # type: ignore[arg-type]
        source=source,
        status="processing",
        visibility=visibility,  # type: ignore[arg-type]
        content_type="image/jpeg",
        size=10,
        job_id=job_id,
        created_at=at,
        updated_at=at,
    )
    job = JobRecord(
        id=job_id,
        media_id=media_id,
        owner_id=owner,
        kind="process" if source == "upload" else "image",
        state="queued",
        created_at=at,
    )
    return media, job


def ready(media: MediaRecord) -> MediaResult:
    return MediaResult(
        job_id=media.job_id,
        user_id=media.owner_id,
        media_id=media.id,
        status="ready",
        kind=media.kind,
        content_type="image/jpeg",
        size=1234,
        width=640,
        height=480,
        variants={
            "original": StoredVariant(key=f"{media.id}/original.jpg", content_type="image/jpeg", size=1234),
            "thumbnail": StoredVariant(
                key=f"{media.id}/thumbnail.webp", content_type="image/webp", size=99, width=256, height=192
            ),
        },
    )


async def test_create_get_and_apply_a_result_once(store: MediaStore) -> None:
    media, job = records()
    await store.create(media, job)
    assert await store.get(media.id) == media
    assert await store.get_job(job.id) == job
    done_at = T0 + timedelta(seconds=5)
    assert await store.apply_result(ready(media), done_at) is Applied.APPLIED
    again = await store.apply_result(ready(media), done_at + timedelta(seconds=1))
    assert again is Applied.DUPLICATE
    got = await store.get(media.id)
    assert got is not None and got.status == "ready" and got.updated_at == done_at
    assert (got.width, got.height, got.size) == (640, 480, 1234)
    assert got.variants["thumbnail"].width == 256
    finished = await store.get_job(job.id)
    assert finished is not None and finished.state == "done" and finished.finished_at == done_at


async def test_get_many_finds_the_existing_items(store: MediaStore) -> None:
    (a, a_job), (b, b_job) = records(), records(owner="u2", visibility="public")
    await store.create(a, a_job)
    await store.create(b, b_job)
    found = await store.get_many([b.id, str(uuid.uuid4()), a.id, b.id])
    assert sorted(found, key=lambda m: m.id) == sorted([a, b], key=lambda m: m.id)
    assert await store.get_many([]) == []
    assert await store.get_many([str(uuid.uuid4())]) == []


async def test_failed_result_keeps_the_reason(store: MediaStore) -> None:
    media, job = records()
    await store.create(media, job)
    failed = MediaResult(
        job_id=job.id, user_id="u1", media_id=media.id, status="failed", kind="image", error="truncated"
    )
    assert await store.apply_result(failed, T0) is Applied.APPLIED
    got, got_job = await store.get(media.id), await store.get_job(job.id)
    assert got is not None and got.status == "failed" and got.error == "truncated" and got.variants == {}
    assert got_job is not None and got_job.state == "failed" and got_job.error == "truncated"


async def test_result_for_a_deleted_item_is_an_orphan(store: MediaStore) -> None:
    media, job = records()
    await store.create(media, job)
    deleted = await store.delete(media.id)
    assert deleted is not None and deleted.id == media.id
    assert await store.get(media.id) is None and await store.get_job(job.id) is None
    assert await store.delete(media.id) is None
    assert await store.apply_result(ready(media), T0) is Applied.ORPHAN


async def test_pages_newest_first_and_visibility(store: MediaStore) -> None:
    mine = [records("u1", at=T0 + timedelta(seconds=i)) for i in range(5)]
    theirs_public = records("u2", at=T0 + timedelta(seconds=10), visibility="public")
    theirs_private = records("u2", at=T0 + timedelta(seconds=11))
    elsewhere = records("u1", persona="p2", at=T0 + timedelta(seconds=12))
    for media, job in [*mine, theirs_public, theirs_private, elsewhere]:
        await store.create(media, job)
    first = await store.page("u1", None, None, 3)
    assert [m.id for m in first] == [elsewhere[0].id, mine[4][0].id, mine[3][0].id]
    rest = await store.page("u1", None, (first[-1].created_at, first[-1].id), 10)
    assert [m.id for m in rest] == [m.id for m, _ in mine[2::-1]]
    persona = await store.page("u1", "p1", None, 10)
    assert [m.id for m in persona] == [theirs_public[0].id] + [m.id for m, _ in mine[::-1]]
    assert [m.id for m in await store.page("u3", "p1", None, 10)] == [theirs_public[0].id]


async def test_persona_images_are_the_owners_ready_images(store: MediaStore) -> None:
    a = records("u1", at=T0)
    b = records("u1", at=T0 + timedelta(seconds=1))
    processing = records("u1", at=T0 + timedelta(seconds=2))
    video = records("u1", at=T0 + timedelta(seconds=3), kind="video")
    other_owner = records("u2", at=T0 + timedelta(seconds=4), visibility="public")
    for media, job in (a, b, processing, video, other_owner):
        await store.create(media, job)
    for media, _ in (a, b, video, other_owner):
        await store.apply_result(ready(media), T0)
    found = await store.persona_images("u1", "p1", 8)
    assert [m.id for m in found] == [b[0].id, a[0].id]
    assert [m.id for m in await store.persona_images("u1", "p1", 1)] == [b[0].id]


async def test_generation_slots(store: MediaStore) -> None:
    first = [records(source="generation") for _ in range(2)]
    assert [await store.create_generation(m, j, 2) for m, j in first] == [True, True]
    third = records(source="generation")
    assert await store.create_generation(*third, 2) is False
    assert await store.get(third[0].id) is None
    assert await store.create_generation(*records("u2", source="generation"), 2) is True
    # A finished generation frees its slot, once.
    await store.apply_result(ready(first[0][0]), T0)
    await store.apply_result(ready(first[0][0]), T0)
    assert await store.create_generation(*third, 2) is True
    assert await store.create_generation(*records(source="generation"), 2) is False


async def test_concurrent_generations_never_exceed_the_limit(store: MediaStore) -> None:
    attempts = [records(source="generation") for _ in range(8)]
    results = await asyncio.gather(*(store.create_generation(m, j, 3) for m, j in attempts))
    assert sum(results) == 3
    created = [m for m, _ in attempts if await store.get(m.id) is not None]
    assert len(created) == 3


async def test_visibility_update(store: MediaStore) -> None:
    media, job = records()
    await store.create(media, job)
    changed = await store.set_visibility(media.id, "public", T0 + timedelta(seconds=1))
    assert changed is not None and changed.visibility == "public" and changed.updated_at > media.updated_at
    assert await store.set_visibility(str(uuid.uuid4()), "public", T0) is None
