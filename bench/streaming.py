"""Token streaming: the latency the gateway adds between a worker's `ai_chat_chunk` and an SSE client,
at 100 concurrent chat streams, against a raw NATS subscriber receiving the same chunks in the same run.

A real worker process (`python -m generation_worker`, offline provider pacing tokens like a model)
runs 100 chat jobs at a time; a real gateway process relays them to 100 SSE clients (one per
user) while a raw NATS subscriber in the same client process receives the same live messages.
Each chunk's clock starts when JetStream stored it (`Nats-Time-Stamp`, i.e. the end of the
worker's publish); "added" is SSE arrival − NATS arrival for the same chunk."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nats

from bench.procs import ask, clients, gateway, percentile
from bench.report import machine, write_section
from chassis.jobs import publish_job
from proto.chat import ChatJob, PromptMessage
from proto.subjects import JOBS_CHAT, STREAM_RESULTS
from tests.support.natsd import NatsServer

STREAMS = 100
JOBS_PER_STREAM = 3
TOKEN_DELAY = 0.05  # 20 tokens/s per stream, a typical hosted model's pace
ARRIVAL_GAP = 0.01  # seconds between two jobs' arrival
SYSTEM = "You are Mara, a retired lighthouse keeper. Personality: gruff, kind, superstitious about gulls."


def job(user: str, n: int) -> ChatJob:
    return ChatJob(
        job_id=uuid.uuid4().hex,
        user_id=user,
        conversation_id=f"conv-{user}-{n}",
        message_id=uuid.uuid4().hex,
        persona_id="bench",
        persona_name="Mara",
        messages=[
            PromptMessage(role="system", content=SYSTEM),
            PromptMessage(role="user", content=f"Tell me story number {n} about the sea, please"),
        ],
    )


async def run_jobs(nats_url: str, users: list[str]) -> float:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        started = time.monotonic()
        for n in range(JOBS_PER_STREAM):
            for user in users:
                j = job(user, n)
                await publish_job(js, JOBS_CHAT, j.job_id, j)
                # Users' messages arrive spread out, not all in the same millisecond: without
                # this every stream's tokens would be emitted in lockstep bursts.
                await asyncio.sleep(ARRIVAL_GAP)
        expected = len(users) * JOBS_PER_STREAM
        while (await js.stream_info(STREAM_RESULTS)).state.messages < expected:
            await asyncio.sleep(0.2)
        return time.monotonic() - started
    finally:
        await nc.close()


def main() -> None:
    users = [f"s{i}" for i in range(STREAMS)]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        server = NatsServer(Path(folder) / "nats").start()
        env = {
            **os.environ,
            "NATS_URL": server.url,
            "LOG_LEVEL": "warning",
            "WORKER_CHAT_CONCURRENCY": str(STREAMS),
            "OFFLINE_TOKEN_DELAY": str(TOKEN_DELAY),
        }
        worker = subprocess.Popen([sys.executable, "-m", "generation_worker"], env=env)
        try:
            with gateway(server.url) as gw:
                spec = {
                    "port": gw.port,
                    "users": users,
                    "per_user": 1,
                    "mode": "arrivals",
                    "nats_url": server.url,
                    "baseline_subject": "live.events.user.>",
                }
                with clients([spec]) as procs:
                    ask(procs, "open")
                    cpu = gw.cpu_seconds()
                    seconds = asyncio.run(run_jobs(server.url, users))
                    cpu_share = (gw.cpu_seconds() - cpu) / seconds
                    time.sleep(1.0)
                    [stats] = ask(procs, "stats")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            server.stop()
    stored = {int(k): v for k, v in stats["stored"].items()}
    nats_at = dict(stats["baseline_arrivals"])
    sse_at = dict(stats["arrivals"])
    common = [seq for seq in sse_at if seq in nats_at and seq in stored]
    sse_ms = [(sse_at[s] - stored[s]) / 1e6 for s in common]
    nats_ms = [(nats_at[s] - stored[s]) / 1e6 for s in common]
    added_ms = [(sse_at[s] - nats_at[s]) / 1e6 for s in common]

    def pct(values: list[float], p: float) -> float:
        return percentile([int(v * 1000) for v in values], p) / 1000

    missing = len(nats_at) - len(sse_at)
    slow_share = sum(1 for v in added_ms if v > 10) / len(added_ms) if added_ms else 0.0
    p99 = pct(added_ms, 99)
    lines = [
        "## Token streaming: worker → gateway → SSE client",
        "",
        f"Machine: {machine()}.",
        f"{STREAMS} concurrent chat streams: a real worker process (offline provider, one token every "
        f"{TOKEN_DELAY * 1000:.0f} ms per stream, {JOBS_PER_STREAM} replies per user, jobs arriving "
        f"{ARRIVAL_GAP * 1000:.0f} ms apart), a real gateway process, "
        f"{STREAMS} SSE clients (one per user) and, in the same client process, a raw NATS subscriber on the "
        "same live subjects as the baseline. Clock start: the chunk's JetStream store time "
        "(`Nats-Time-Stamp`, the end of the worker's publish). 1-minute load average when the run started: "
        f"{load:.1f}. Run with `python -m bench streaming`.",
        "",
        "| path | chunks | p50 ms | p99 ms |",
        "|---|---|---|---|",
        f"| baseline: NATS subscriber | {len(nats_at):,} | {pct(nats_ms, 50):.2f} | {pct(nats_ms, 99):.2f} |",
        f"| SSE client through the gateway | {len(sse_at):,} | {pct(sse_ms, 50):.2f} "
        f"| {pct(sse_ms, 99):.2f} |",
        f"| **added by the gateway** (same chunk, SSE − NATS) | {len(common):,} "
        f"| **{pct(added_ms, 50):.2f}** | **{p99:.2f}** |",
        "",
        f"- Chunks relayed: {len(common) / seconds:,.0f}/s over {seconds:.1f} s; chunks missing at SSE "
        f"clients: {missing}; gateway CPU {cpu_share:.0%} of one core.",
        f"- Chunks delayed more than 10 ms by the gateway: {slow_share:.1%}.",
        f"- Target p99 added ≤ 10 ms at {STREAMS} streams: **{'met' if p99 <= 10 else 'not met'}**.",
    ]
    write_section("streaming", "\n".join(lines))
    print("\n".join(lines))
