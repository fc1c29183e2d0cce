"""Processes the SSE benchmarks drive: the gateway and SSE client processes (bench.ssekit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from chassis.children import stop
from tests.support.natsd import wait_port
from tests.support.ports import free_port


class GatewayProc:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port
        self.ps = psutil.Process(proc.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)


@contextmanager
def gateway(
    nats_url: str, role: str = "gateway", module: str = "bench.ssekit", **env: str
) -> Iterator[GatewayProc]:
    """`python -m <module> <role>` (`module` may carry arguments: "bench.edge serve").
    bench.ssekit's roles: "gateway", the real gateway; "bare": Hypercorn holding SSE responses."""
    port = free_port()
    full = {
        **os.environ,
        "NATS_URL": nats_url,
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        # The fan-out benchmark holds 100 streams per user, beyond the production cap of 20.
        "SSE_MAX_STREAMS_PER_USER": "100000",
        **env,
    }
    proc = subprocess.Popen([sys.executable, "-m", *module.split(), role], env=full)
    try:
        wait_port(port, timeout=60)
        yield GatewayProc(proc, port)
    finally:
        stop(proc, timeout=20)


class ClientProc:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ssekit", "clients", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("client process ended")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@contextmanager
def clients(specs: list[dict[str, Any]]) -> Iterator[list[ClientProc]]:
    procs = [ClientProc(spec) for spec in specs]
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()


def ask(procs: list[ClientProc], command: str) -> list[dict[str, Any]]:
    """Send a command to every client process at once, then collect their answers."""
    for p in procs:
        p.send(command)
    return [p.answer() for p in procs]


def percentile(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))])
