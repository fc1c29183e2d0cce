"""SSE fan-out on one gateway process: memory per client, events delivered per second and
publish→client latency, each against a baseline measured in the same run:

- memory: Hypercorn holding the same number of bare SSE responses (no gateway code) — the floor;
- latency: a raw NATS subscriber receiving every published event once (the bus alone);
- both: `RawServer`, an asyncio server with no HTTP framework (the floor for any Python server).

Where the memory goes is measured with tracemalloc (which library allocated each block a
client holds), where the time goes with cProfile.

Targets (issue 4): 10,000 concurrent clients at ≤ 16 KiB of gateway memory each; 50,000
events/s delivered with p99 publish→client ≤ 50 ms. The gateway, nats-server, the client
processes and the publisher share the machine's cores: on a 2-core machine the clients and
the publisher take CPU the gateway would otherwise have, so the gateway's CPU time per
delivery is reported too (what one dedicated core sustains)."""

from __future__ import annotations

import asyncio
import json
import os
import pstats
import signal
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import psutil

from bench.procs import ClientProc, GatewayProc, ask, clients, gateway, percentile
from bench.report import machine, write_section
from chassis import streams
from chassis.events import EventPublisher
from chassis.settings import Settings
from proto.chat import AiChatChunk
from proto.subjects import user_channel
from tests.support.natsd import NatsServer

CONNECTIONS = 10_000
CLIENT_PROCS = 2
FANOUT_USERS = 100  # 100 users × 100 connections each: every event reaches 100 clients
DELIVERY_RATES = (10_000, 15_000, 20_000, 25_000, 50_000)
PHASE_SECONDS = 8.0
PROFILE_SECONDS = 5.0
HEAP_CLIENTS = 1_000  # tracing every allocation is slow: a tenth of the clients
KIB = 1024


@dataclass
class Phase:
    target: int
    delivered_per_s: float
    missing: int
    p50: float
    p99: float
    nats_p50: float
    nats_p99: float
    cpu_share: float
    cpu_us_per_delivery: float
    clients_cpu: float
    machine_busy: float
    started: float
    ended: float
    duplicates: int = 0  # frames a client got twice (counted in the frames, not in `missing`)


async def publish(nats_url: str, users: list[str], rate: float, seconds: float) -> int:
    """Publish `rate` events/s round-robin over `users`' channels, stamped with the monotonic clock."""
    nc = await nats.connect(nats_url)
    events = EventPublisher(nc.jetstream())
    loop = asyncio.get_running_loop()

    async def one(i: int) -> None:
        stamp = str(time.monotonic_ns())
        event = AiChatChunk(job_id="bench", conversation_id="bench", message_id="bench", index=i, delta=stamp)
        await events.publish([user_channel(users[i % len(users)])], event)

    sent = 0
    started = loop.time()
    try:
        while (elapsed := loop.time() - started) < seconds:
            due = int(elapsed * rate) - sent
            if due > 0:
                await asyncio.gather(*(one(sent + i) for i in range(due)))
                sent += due
            await asyncio.sleep(0.002)
    finally:
        await nc.close()
    return sent


def specs(port: int, users: list[str], per_user: int, nats_url: str | None) -> list[dict[str, Any]]:
    share = len(users) // CLIENT_PROCS
    out = []
    for n in range(CLIENT_PROCS):
        spec: dict[str, Any] = {
            "port": port,
            "users": users[n * share : (n + 1) * share],
            "per_user": per_user,
            "mode": "delta",
        }
        if n == 0 and nats_url:
            spec |= {"nats_url": nats_url, "baseline_subject": "live.events.user.>"}
        out.append(spec)
    return out


def open_all(procs: list[ClientProc], expected: int) -> float:
    opened = ask(procs, "open")
    assert sum(o["open"] for o in opened) == expected, opened
    return max(float(o["seconds"]) for o in opened)


def memory(nats_url: str, role: str, users: list[str], per_user: int) -> tuple[float, float, float]:
    """(KiB per client, seconds to open them, total RSS MiB) for users × per_user clients."""
    with gateway(nats_url, role) as gw:
        time.sleep(1.0)
        base = gw.rss()
        with clients(specs(gw.port, users, per_user, None)) as procs:
            seconds = open_all(procs, len(users) * per_user)
            time.sleep(2.0)
            rss = gw.rss()
    return (rss - base) / (len(users) * per_user) / KIB, seconds, rss / KIB / KIB


def wait_delivered(procs: list[ClientProc], expected: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Poll the clients until `expected` frames arrived or the count stops growing."""
    deadline = time.monotonic() + timeout
    last, still = -1, 0
    while True:
        stats = ask(procs, "stats")
        got = sum(s["frames"] for s in stats)
        if got >= expected or time.monotonic() > deadline:
            return stats
        still = still + 1 if got == last else 0
        if still >= 6:
            return stats
        last = got
        time.sleep(0.5)


def phase(
    servers: list[GatewayProc],
    procs: list[ClientProc],
    nats_url: str,
    users: list[str],
    target: int,
    *,
    fan: int = 0,
    seconds: float = PHASE_SECONDS,
) -> Phase:
    """`target` deliveries/s to `fan` clients per user (CONNECTIONS spread over `users` unless given),
    through `servers` (their CPU together)."""
    fan = fan or CONNECTIONS // len(users)
    ask(procs, "reset")
    cpu = sum(s.cpu_seconds() for s in servers)
    clients_cpu = _cpu(procs)
    psutil.cpu_percent(interval=None)
    started = time.monotonic()
    sent = asyncio.run(publish(nats_url, users, target / fan, seconds))
    stats = wait_delivered(procs, sent * fan)
    seconds = time.monotonic() - started
    cpu_used = sum(s.cpu_seconds() for s in servers) - cpu
    machine_busy = psutil.cpu_percent(interval=None) / 100
    clients_used = _cpu(procs) - clients_cpu
    got = sum(s["frames"] for s in stats)
    duplicates = sum(s["duplicates"] for s in stats)
    latencies = [v for s in stats for v in s["latencies_us"]]
    baseline = [v for s in stats for v in s["baseline_latencies_us"]]
    return Phase(
        target=target,
        delivered_per_s=got / seconds,
        missing=sent * fan - (got - duplicates),
        p50=percentile(latencies, 50) / 1000,
        p99=percentile(latencies, 99) / 1000,
        nats_p50=percentile(baseline, 50) / 1000,
        nats_p99=percentile(baseline, 99) / 1000,
        cpu_share=cpu_used / seconds,
        cpu_us_per_delivery=cpu_used / got * 1e6 if got else float("nan"),
        clients_cpu=clients_used / seconds,
        machine_busy=machine_busy,
        started=started,
        ended=time.monotonic(),
        duplicates=duplicates,
    )


def _cpu(procs: list[ClientProc]) -> float:
    total = 0.0
    for p in procs:
        times = psutil.Process(p.proc.pid).cpu_times()
        total += times.user + times.system
    return total


@contextmanager
def streams_open(
    nats_url: str, role: str, users: list[str], **env: str
) -> Iterator[tuple[GatewayProc, list[ClientProc], int]]:
    """`role`'s server holding CONNECTIONS streams spread over `users`, with the clients that
    hold them and the server's RSS before they opened."""
    with gateway(nats_url, role, **env) as server:
        time.sleep(1.0)
        base = server.rss()
        with clients(specs(server.port, users, CONNECTIONS // len(users), nats_url)) as procs:
            open_all(procs, CONNECTIONS)
            time.sleep(2.0)
            yield server, procs, base


def fanout(nats_url: str, folder: str) -> tuple[float, float, list[Phase], list[str], list[list[float]]]:
    users = [f"f{i}" for i in range(FANOUT_USERS)]
    profile_path = os.path.join(folder, "gateway.prof")
    with streams_open(nats_url, "gateway", users, PROFILE_PATH=profile_path) as (gw, procs, base):
        idle_kib = (gw.rss() - base) / CONNECTIONS / KIB
        phases = [phase([gw], procs, nats_url, users, rate) for rate in DELIVERY_RATES]
        busy_kib = (gw.rss() - base) / CONNECTIONS / KIB
        ask(procs, "reset")
        os.kill(gw.proc.pid, signal.SIGUSR1)
        asyncio.run(publish(nats_url, users, DELIVERY_RATES[-1] / len(users), PROFILE_SECONDS))
        os.kill(gw.proc.pid, signal.SIGUSR2)
        time.sleep(2.0)
    gc_pauses = json.loads(Path(profile_path + ".gc.json").read_text())
    return idle_kib, busy_kib, phases, profile_summary(profile_path), gc_pauses


async def ensure_streams(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await streams.ensure_all(nc.jetstream(), Settings.from_env({}, nats_url=nats_url))
    finally:
        await nc.close()


def floor(nats_url: str) -> tuple[float, list[Phase]]:
    """The same clients and rates against `RawServer` (no framework): (KiB per client, phases)."""
    users = [f"r{i}" for i in range(FANOUT_USERS)]
    asyncio.run(ensure_streams(nats_url))  # the gateway creates them; RawServer does not
    with streams_open(nats_url, "raw", users) as (raw, procs, base):
        kib = (raw.rss() - base) / CONNECTIONS / KIB
        phases = [phase([raw], procs, nats_url, users, rate) for rate in DELIVERY_RATES]
    return kib, phases


def heap(nats_url: str, folder: str) -> dict[str, float]:
    """Bytes per client of Python heap the gateway allocated while HEAP_CLIENTS streams opened
    and still holds, by the innermost library on the allocating stack (asyncio's and the
    standard library's frames are passed over: a queue Hypercorn creates is Hypercorn's)."""
    path = os.path.join(folder, "heap")
    fan = CONNECTIONS // FANOUT_USERS
    users = [f"h{i}" for i in range(HEAP_CLIENTS // fan)]
    with gateway(nats_url, "gateway", HEAP_PATH=path) as gw:
        # A first stream allocates what every later one shares (caches, a grown task set).
        with clients(specs(gw.port, ["hw0", "hw1"], 1, None)) as procs:
            open_all(procs, 2)
        time.sleep(1.0)
        before = _heap_snapshot(gw, path, 0)
        with clients(specs(gw.port, users, fan, None)) as procs:
            open_all(procs, HEAP_CLIENTS)
            time.sleep(2.0)
            after = _heap_snapshot(gw, path, 1)
    own = [tracemalloc.Filter(False, tracemalloc.__file__)]
    owners: dict[str, float] = {}
    for stat in after.filter_traces(own).compare_to(before.filter_traces(own), "traceback"):
        owner = _owner(stat.traceback)
        owners[owner] = owners.get(owner, 0.0) + stat.size_diff / HEAP_CLIENTS
    return owners


def _heap_snapshot(gw: GatewayProc, path: str, n: int) -> tracemalloc.Snapshot:
    os.kill(gw.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 120
    while not os.path.exists(f"{path}.{n}"):
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway wrote no heap snapshot")
        time.sleep(0.2)
    return tracemalloc.Snapshot.load(f"{path}.{n}")


def _owner(traceback: tracemalloc.Traceback) -> str:
    for place in reversed(traceback):  # innermost frame first
        layer = _layer(place.filename)
        if layer is not None:
            return layer
    return SERVER_ASYNCIO


def profile_summary(path: str) -> list[str]:
    stats = pstats.Stats(path)
    areas: dict[str, float] = {}
    rows = []
    sends, send_time = 0, 0.0
    for (filename, line, func), (_, calls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        area = _area(filename, func)
        areas[area] = areas.get(area, 0.0) + tottime
        rows.append((tottime, f"{_short(filename)}:{line}({func})"))
        if area == "socket send (syscall)":
            sends, send_time = sends + calls, send_time + tottime
    total = sum(areas.values()) or 1.0
    lines = ["| where | share of gateway CPU |", "|---|---|"]
    for area, t in sorted(areas.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {area} | {t / total:.0%} |")
    if sends:
        lines += [
            "",
            f"- One socket `send` (one write to one client) took {send_time / sends * 1e6:.1f} µs on average "
            f"({sends:,} calls, under the profiler).",
        ]
    lines += ["", "Top functions by own time:", ""]
    for t, name in sorted(rows, reverse=True)[:12]:
        lines.append(f"- `{name}`: {t / total:.1%}")
    return lines


def heap_report(owners: dict[str, float]) -> list[str]:
    total = sum(owners.values()) or 1.0
    server = sum(v for k, v in owners.items() if k in (*SERVER_LAYERS, SERVER_ASYNCIO))
    lines = [
        f"### Where a client's memory goes (gateway, {HEAP_CLIENTS:,} clients on "
        f"{HEAP_CLIENTS * FANOUT_USERS // CONNECTIONS} channels, tracemalloc)",
        "",
        "Python heap allocated while the streams opened and still held by them, by the innermost "
        "library on the allocating stack (asyncio's frames passed over: a queue Hypercorn creates "
        "is Hypercorn's; what asyncio allocates for a connection by itself is asyncio's).",
        "",
        "| allocated by | bytes per client | share |",
        "|---|---|---|",
    ]
    for owner, size in sorted(owners.items(), key=lambda kv: -kv[1]):
        if size >= 1:
            lines.append(f"| {owner} | {size:,.0f} | {size / total:.0%} |")
    lines += [
        "",
        f"- Python heap per client: {total / KIB:.1f} KiB, of which the server under the gateway "
        f"(asyncio's connection objects, Hypercorn, h11) {server / KIB:.1f} KiB and the gateway's "
        f"own code {(total - server) / KIB:.1f} KiB. RSS per client (above) also counts the "
        "allocator's overhead.",
    ]
    return lines


def gc_report(pauses: list[list[float]], phases: list[Phase]) -> list[str]:
    """The gateway's garbage-collector pauses, overall and during the delivery runs."""
    during = [p for p in pauses if any(ph.started <= p[0] <= ph.ended for ph in phases)]
    lines = ["", "Garbage-collector pauses in the gateway (generation: count, total, longest):", ""]
    for label, chosen in (
        (f"whole run, opening {CONNECTIONS:,} streams included", pauses),
        ("delivery runs", during),
    ):
        parts = []
        for gen in (0, 1, 2):
            times = [p[1] * 1000 for p in chosen if p[2] == gen]
            parts.append(f"gen {gen}: {len(times)}, {sum(times):.0f} ms, {max(times, default=0):.1f} ms")
        lines.append(f"- {label}: " + "; ".join(parts))
    return lines


# The server under the gateway, and the gateway's own modules, as profiles and heap reports name them.
SERVER_LAYERS = ("h11 (HTTP/1.1 framing)", "Hypercorn (ASGI server)")
SERVER_ASYNCIO = "asyncio (socket, transport and stream objects)"
LAYERS = (
    ("/h11/", SERVER_LAYERS[0]),
    ("/hypercorn/", SERVER_LAYERS[1]),
    ("/nats/", "nats-py (receiving from NATS)"),
    ("gateway/fanout.py", "gateway fan-out (gateway/fanout.py)"),
    ("gateway/sse.py", "SSE connections (gateway/sse.py)"),
    ("gateway/app.py", "gateway dispatch (gateway/app.py)"),
    ("/gateway/", "gateway, other modules"),
    ("/chassis/", "chassis"),
)


def _layer(filename: str) -> str | None:
    return next((label for key, label in LAYERS if key in filename), None)


def _area(filename: str, func: str) -> str:
    layer = _layer(filename)
    if layer is not None:
        return layer
    if "asyncio/" in filename or "selectors.py" in filename:
        return "asyncio event loop"
    if "'send' of '_socket.socket'" in func:
        return "socket send (syscall)"
    if "'poll' of 'select.epoll'" in func:
        return "epoll wait"
    return "other"


def _short(filename: str) -> str:
    parts = filename.split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else filename


@dataclass
class Results:
    bare_kib: float
    bare_rss: float
    own_kib: float
    own_rss: float
    open_seconds: float
    shared_kib: float
    busy_kib: float
    phases: list[Phase]
    profile: list[str]
    gc_pauses: list[list[float]]
    floor_kib: float
    floor_phases: list[Phase]
    heap: dict[str, float]
    load: float


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        server = NatsServer(Path(folder) / "nats").start()
        try:
            distinct = [f"m{i}" for i in range(CONNECTIONS)]
            bare_kib, _, bare_rss = memory(server.url, "bare", distinct, 1)
            own_kib, open_seconds, own_rss = memory(server.url, "gateway", distinct, 1)
            shared_kib, busy_kib, phases, profile, gc_pauses = fanout(server.url, folder)
            floor_kib, floor_phases = floor(server.url)
            heap_owners = heap(server.url, folder)
        finally:
            server.stop()
    print_report(
        Results(
            bare_kib,
            bare_rss,
            own_kib,
            own_rss,
            open_seconds,
            shared_kib,
            busy_kib,
            phases,
            profile,
            gc_pauses,
            floor_kib,
            floor_phases,
            heap_owners,
            load,
        )
    )


def best_rate(phases: list[Phase]) -> Phase | None:
    """The highest delivered rate with every event delivered and p99 ≤ 50 ms."""
    ok = [p for p in phases if p.missing == 0 and p.p99 <= 50]
    return max(ok, key=lambda p: p.delivered_per_s, default=None)


def describe(best: Phase | None) -> str:
    return f"**{best.delivered_per_s:,.0f} deliveries/s** (p99 {best.p99:.1f} ms)" if best else "**none**"


def print_report(r: Results) -> None:
    fan = CONNECTIONS // FANOUT_USERS
    best = best_rate(r.phases)
    floor_best = best_rate(r.floor_phases)
    per_core = 1e6 / min(p.cpu_us_per_delivery for p in r.phases)
    floor_per_core = 1e6 / min(p.cpu_us_per_delivery for p in r.floor_phases)
    lines = [
        "## SSE fan-out on one gateway process",
        "",
        f"Machine: {machine()}.",
        f"{CONNECTIONS:,} SSE clients on raw asyncio sockets in {CLIENT_PROCS} client processes, one gateway "
        "process (`python -m bench.ssekit gateway`: the real gateway and EventsPlugin under Hypercorn), "
        "events published to JetStream by a separate process (`EventPublisher`), each stamped with the "
        "monotonic clock just before publishing. Gateway, nats-server, clients and publisher share the "
        f"machine's 2 cores (1-minute load average when the run started: {r.load:.1f}). "
        "Run with `python -m bench sse`.",
        "",
        "Two baselines run in the same session: Hypercorn holding bare SSE responses (the memory floor "
        "of the mandated server) and `RawServer` (`python -m bench.ssekit raw`), an asyncio server "
        "with no HTTP framework and no task per connection that writes each NATS message straight to "
        "every follower's socket: the floor for delivery by any Python asyncio server on this machine.",
        "",
        "### Memory per client (gateway RSS growth ÷ clients, idle streams)",
        "",
        "| server | clients | NATS subscriptions | KiB per client | process RSS |",
        "|---|---|---|---|---|",
        f"| baseline: Hypercorn holding bare SSE responses | {CONNECTIONS:,} | 0 | {r.bare_kib:.1f} "
        f"| {r.bare_rss:.0f} MiB |",
        f"| baseline: RawServer, {FANOUT_USERS} users × {fan} clients | {CONNECTIONS:,} | {FANOUT_USERS} "
        f"| {r.floor_kib:.1f} | |",
        f"| gateway, one user per client | {CONNECTIONS:,} | {CONNECTIONS:,} | **{r.own_kib:.1f}** "
        f"| {r.own_rss:.0f} MiB |",
        f"| gateway, {FANOUT_USERS} users × {fan} clients | {CONNECTIONS:,} | {FANOUT_USERS} "
        f"| **{r.shared_kib:.1f}** (after the delivery runs: {r.busy_kib:.1f}) | |",
        "",
        f"- Gateway ÷ bare Hypercorn: {r.own_kib / r.bare_kib:.2f}× (distinct users), "
        f"{r.shared_kib / r.bare_kib:.2f}× (shared channels). Target ≤ 16 KiB per client: "
        f"**{'met' if max(r.own_kib, r.shared_kib) <= 16 else 'not met'}**; Hypercorn's own per-connection "
        f"objects are {r.bare_kib:.1f} KiB of it.",
        f"- Opening {CONNECTIONS:,} streams (authenticate, subscribe, first frame) took "
        f"{r.open_seconds:.1f} s.",
        "",
        *heap_report(r.heap),
        "",
        f"### Delivery: {FANOUT_USERS} channels × {fan} clients, {PHASE_SECONDS:.0f} s per rate",
        "",
        "Latency is publish (before the JetStream publish call) → the client's socket read. "
        "Baseline: a raw NATS subscriber on `live.events.user.>` receiving the same events once. "
        "CPU columns are the server process's.",
        "",
        "| server | target/s | delivered/s | missing | SSE p50 ms | SSE p99 ms | NATS p50 ms | NATS p99 ms "
        "| p99 SSE ÷ NATS | server CPU | server CPU µs per delivery | client processes CPU "
        "| machine busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, phases in (("RawServer (floor)", r.floor_phases), ("**gateway**", r.phases)):
        for p in phases:
            ratio = p.p99 / p.nats_p99 if p.nats_p99 else float("nan")
            lines.append(
                f"| {name} | {p.target:,} | {p.delivered_per_s:,.0f} | {p.missing:,} | {p.p50:.1f} "
                f"| {p.p99:.1f} | {p.nats_p50:.2f} | {p.nats_p99:.2f} | {ratio:.1f}× | {p.cpu_share:.0%} "
                f"| {p.cpu_us_per_delivery:.1f} | {p.clients_cpu:.0%} | {p.machine_busy:.0%} |"
            )
    lines += [
        "",
        f"- Gateway: best rate with every event delivered and p99 ≤ 50 ms: {describe(best)}; "
        f"RawServer: {describe(floor_best)}.",
        f"- At their lowest CPU cost per delivery, one dedicated core would sustain ≈ {per_core:,.0f} "
        f"deliveries/s through the gateway, ≈ {floor_per_core:,.0f} through RawServer.",
        f"- Target 50,000/s at p99 ≤ 50 ms: **{'met' if best and best.target >= 50_000 else 'not met'}** "
        f"(the no-framework floor: {'met' if floor_best and floor_best.target >= 50_000 else 'not met'}).",
        "",
        f"### Where the gateway's time goes (cProfile, {PROFILE_SECONDS:.0f} s at {DELIVERY_RATES[-1]:,}/s)",
        "",
        *r.profile,
        "",
        *gc_report(r.gc_pauses, r.phases),
    ]
    write_section("sse", "\n".join(lines))
    print("\n".join(lines))
