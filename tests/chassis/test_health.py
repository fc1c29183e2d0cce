"""Readiness under a storm of probes: one run of the checks at a time, its answer shared."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette

from chassis.health import Health


async def test_concurrent_probes_share_one_run_of_a_slow_check() -> None:
    calls = 0
    release = asyncio.Event()

    async def slow_database() -> None:
        nonlocal calls
        calls += 1
        await release.wait()

    health = Health("svc")
    health.add("database", slow_database)
    probes = [asyncio.create_task(health.ready()) for _ in range(20)]
    await asyncio.sleep(0.05)
    release.set()
    answers = await asyncio.gather(*probes)

    assert calls == 1
    assert all(answer == (True, {"database": "ok"}) for answer in answers)
    # The next probe after the run asks the dependency again (no stale answer is kept).
    await health.ready()
    assert calls == 2


async def test_a_probe_that_gives_up_does_not_cancel_the_run_others_wait_on() -> None:
    release = asyncio.Event()

    async def slow_storage() -> None:
        await release.wait()

    health = Health("svc")
    health.add("storage", slow_storage)
    impatient = asyncio.create_task(health.ready())
    patient = asyncio.create_task(health.ready())
    await asyncio.sleep(0.05)
    impatient.cancel()
    release.set()
    assert await patient == (True, {"storage": "ok"})


async def test_readyz_names_the_failing_dependency() -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("connection refused")

    async def fine() -> None:
        return None

    health = Health("media")
    health.add("nats", fine)
    health.add("database", broken)
    app = Starlette(routes=health.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["nats"] == "ok"
    assert body["checks"]["database"].startswith("failing: ConnectionRefusedError")
