"""Gateway → NATS → service against the same Starlette app served directly by Hypercorn."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import loadgen
from bench.report import machine, write_section
from tests.support.natsd import NatsServer, wait_port
from tests.support.ports import free_port

LATENCY_SECONDS = 5.0
THROUGHPUT_SECONDS = 8.0
CONNECTIONS = 32
PATH = "/bench/hello"


@contextmanager
def process(role: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen([sys.executable, "-m", "bench.serve", role], env=env)
    try:
        yield p
    finally:
        p.terminate()
        p.wait(timeout=15)


async def measure(port: int) -> tuple[loadgen.Result, loadgen.Result]:
    await loadgen.run("127.0.0.1", port, PATH, connections=4, seconds=1.0)  # warm-up
    latency = await loadgen.run("127.0.0.1", port, PATH, connections=1, seconds=LATENCY_SECONDS)
    throughput = await loadgen.run(
        "127.0.0.1", port, PATH, connections=CONNECTIONS, seconds=THROUGHPUT_SECONDS
    )
    return latency, throughput


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        nats = NatsServer(Path(folder) / "nats").start()
        base = {**os.environ, "NATS_URL": nats.url, "LOG_LEVEL": "warning"}
        gw_port, direct_port = free_port(), free_port()
        try:
            with (
                process("service", base),
                process("gateway", {**base, "PORT": str(gw_port)}),
                process("direct", {**base, "PORT": str(direct_port)}),
            ):
                wait_port(gw_port)
                wait_port(direct_port)
                time.sleep(1.0)
                direct = asyncio.run(measure(direct_port))
                bridged = asyncio.run(measure(gw_port))
        finally:
            nats.stop()
    (d_lat, d_thr), (g_lat, g_thr) = direct, bridged
    added_p50 = g_lat.percentile(50) - d_lat.percentile(50)
    ratio = g_thr.rps / d_thr.rps if d_thr.rps else 0.0
    lines = [
        "## Bridge: gateway → NATS → service vs. direct Hypercorn",
        "",
        f"Machine: {machine()}.",
        f"`GET {PATH}` (a small JSON envelope). Latency: 1 connection, sequential, {LATENCY_SECONDS:.0f} s. "
        f"Throughput: {CONNECTIONS} keep-alive HTTP/1.1 connections, {THROUGHPUT_SECONDS:.0f} s. "
        "Load client, gateway, service and nats-server share the machine's cores.",
        "",
        "| path | p50 ms | p99 ms | req/s (1 conn) | req/s (32 conns) | p50 ms (32) | p99 ms (32) | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, lat, thr in (("direct Hypercorn", d_lat, d_thr), ("gateway → NATS → service", g_lat, g_thr)):
        lines.append(
            f"| {name} | {ms(lat.percentile(50))} | {ms(lat.percentile(99))} | {lat.rps:.0f} | {thr.rps:.0f} "
            f"| {ms(thr.percentile(50))} | {ms(thr.percentile(99))} | {lat.errors + thr.errors} |"
        )
    lines += [
        "",
        f"- Added latency at p50 (1 connection): **{ms(added_p50)} ms** (target ≤ 1 ms: "
        f"{'met' if added_p50 <= 0.001 else 'not met'}).",
        f"- Gateway throughput / direct throughput: **{ratio:.0%}** (target ≥ 60 %: "
        f"{'met' if ratio >= 0.6 else 'not met'}).",
    ]
    write_section("bridge", "\n".join(lines))
    print("\n".join(lines))
