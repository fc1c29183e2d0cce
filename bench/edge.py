"""`python -m bench edge`: the gateway's ASGI server chosen by measurement. Every server in
`gateway.servers.SERVERS` side by side in one run, on the same workload:

- gateway-local req/s (`GET /healthz`) and through the bridge (`GET /auth/me`, p99), `wrk` with
  64 connections against `python -m gateway` (the real app: real authenticator, auth_svc behind);
- SSE memory per idle client and deliveries/s at p99 ≤ 50 ms with the gateway's CPU µs per
  delivery, against the real gateway app and EventsPlugin (`serve sse`: an authenticator that
  trusts `Bearer user:<id>`, as bench/sse.py), 100 users × clients/100 streams each;
- beside each, the floor of the same server: `BareFanout`, a trivial ASGI SSE app (one shared NATS
  subscription per channel, a list and a future per connection, no auth, replay or limits);
- deploy/k8s's two gateway tiers as the production overlay configures them: `gateway` (every
  request but the SSE streams; its HTTP figures) and `gateway-events` (the `/events` streams; its
  SSE figures, measured once when it is a plain server's configuration);
- two gateway processes of the events tier on one NATS: CPU per delivery against one process (in
  alternated rounds), and every event delivered exactly once to each client;
- the edge's targets, each read from the tier that serves it.

`python -m bench.edge --clients 1000 --servers granian` is a quick run (the report is written
only by a full one); `python -m bench.edge serve {sse|bare}` is the server process it starts;
`python -m bench.edge own` measures the gateway's own cost per delivery with no server at all."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats

from bench import loadgen
from bench.procs import GatewayProc, clients, gateway
from bench.report import machine, write_section
from bench.sse import Phase, best_rate, ensure_streams, open_all, phase, specs
from bench.ssekit import BenchAuthenticator
from chassis.logging import configure_logging
from chassis.settings import Settings
from gateway.__main__ import tune_gc
from gateway.app import create_app as create_gateway
from gateway.asgi import Receive, Scope, Send, header
from gateway.fanout import Hub, Outbox, _Topic, frame
from gateway.servers import SERVERS, loop_factory, serve
from gateway.sse import EventsPlugin
from proto.subjects import live_subject, user_channel
from tests.support.kustomize import render
from tests.support.natsd import NatsServer
from tests.support.paths import REPO as ROOT
from tests.support.procs import Procs
from tests.support.users import sign_up

PRODUCTION = "deploy/"
# deploy/k8s's gateway Deployments: the request tier and the SSE tier (the Ingress sends `/events`
# there; docs/operations.md, "The gateway's ASGI server"). The scale-out run uses the SSE tier.
REQUEST_TIER = f"{PRODUCTION} gateway"
EVENTS_TIER = f"{PRODUCTION} gateway-events"
CLIENTS = 10_000
USERS = 100
RATES = (10_000, 25_000, 50_000, 60_000)
# Scale-out at a light and a heavy load: at 10,000/s a process is mostly idle, and what a delivery
# costs is mostly the wake-ups an event causes, which two processes each pay.
SCALE_RATES = (10_000, 25_000, 50_000)
# Runs alternated and their median taken: on two shared cores one run of either measure varies by
# a third (a server answering a constant: 18,708 and 37,969 req/s in one run) or by ±10 % (CPU per
# delivery), more than the differences the targets ask about.
HTTP_ROUNDS = 3
SCALE_ROUNDS = 3
PHASE_SECONDS = 6.0
WRK_SECONDS = 6
WRK_CONNECTIONS = 64
KIB = 1024
WRK = "/usr/bin/wrk"


# Each configuration's name → (its server, its GATEWAY_* settings).
Configs = dict[str, tuple[str, dict[str, str]]]


def configs(servers: tuple[str, ...]) -> Configs:
    """Each server with the gateway's defaults, then each gateway Deployment of the rendered
    production overlay (REQUEST_TIER, EVENTS_TIER) with its own `GATEWAY_*` settings."""
    out: Configs = {s: (s, {}) for s in servers}
    for r in render(ROOT / "deploy/k8s/overlays/production"):
        container = r["spec"]["template"]["spec"]["containers"][0] if r["kind"] == "Deployment" else {}
        if container.get("args") != ["gateway"]:
            continue
        env = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("GATEWAY_")}
        server = env.pop("GATEWAY_SERVER", "hypercorn")
        if server in servers:
            out[f"{PRODUCTION} {r['metadata']['name']}"] = (server, env)
    return out


# --- the server processes ---------------------------------------------------------------


BARE_ALIVE = b'{"status":"alive","component":"bare"}'
BARE_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BARE_ALIVE)).encode())]


class BareFanout:
    """The floor of a server: the least an ASGI SSE relay does (see the module docstring), and a
    constant answer to `GET /healthz`."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.nc: Any = None
        self.followers: dict[str, set[BareStream]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.nc = await nats.connect(self.nats_url)
                else:
                    await self.nc.close()
                await send({"type": f"{message['type']}.complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["path"] == "/healthz":  # the HTTP floor: a constant answer
            await send({"type": "http.response.start", "status": 200, "headers": BARE_HEADERS})
            await send({"type": "http.response.body", "body": BARE_ALIVE})
            return
        user = (header(scope, b"authorization") or "").partition("user:")[2]
        subject = live_subject(user_channel(user))
        followers = self.followers.get(subject)
        if followers is None:
            followers = self.followers[subject] = set()
            await self.nc.subscribe(subject, cb=self._deliver(followers))
            await self.nc.flush()
        stream = BareStream()
        followers.add(stream)
        watcher = asyncio.ensure_future(_until_disconnect(receive, stream))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
            await stream.pump(send)
        finally:
            followers.discard(stream)
            watcher.cancel()

    @staticmethod
    def _deliver(followers: set[BareStream]) -> Any:
        async def deliver(msg: Any) -> None:
            headers = msg.headers or {}
            sse = frame(int(headers["Nats-Sequence"]), headers.get("Event", "message"), msg.data)
            for stream in followers:
                stream.push(sse)

        return deliver


class BareStream:
    __slots__ = ("frames", "closed", "waiter")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None

    def push(self, data: bytes) -> None:
        self.frames.append(data)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        self.push(b"")

    async def pump(self, send: Send) -> None:
        while not self.closed:
            if not self.frames:
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter
            frames, self.frames = self.frames, []
            await send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})


async def _until_disconnect(receive: Receive, stream: BareStream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.close()


def serve_role(role: str) -> None:
    settings = Settings.from_env()
    configure_logging(f"bench-{role}", "warning")
    app = (
        BareFanout(settings.nats_url)
        if role == "bare"
        else create_gateway(settings, routes=(), authenticator=BenchAuthenticator())
    )
    tune_gc()

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve(app, settings, stop.wait)

    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
        runner.run(main())


@contextmanager
def server_proc(nats_url: str, config: tuple[str, dict[str, str]], role: str) -> Iterator[GatewayProc]:
    """`python -m bench.edge serve <role>` under `config` (a server and its settings), on a free port."""
    server, env = config
    with gateway(nats_url, role, module="bench.edge serve", GATEWAY_SERVER=server, **env) as proc:
        time.sleep(1.0)
        yield proc


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Http:
    local_runs: list[float]
    floor_runs: list[float]  # the same server answering a constant (BareFanout), alternated with it
    bridge_rps: float = 0.0
    bridge_p99_ms: float = float("nan")
    errors: int = 0

    @property
    def local_rps(self) -> float:
        return statistics.median(self.local_runs)

    @property
    def floor_rps(self) -> float:
        return statistics.median(self.floor_runs)


@dataclass
class Sse:
    kib: float = float("nan")
    open_seconds: float = float("nan")
    phases: list[Phase] = field(default_factory=list)

    @property
    def best(self) -> Phase | None:
        return best_rate(self.phases)

    @property
    def cpu_us(self) -> float:
        """CPU µs per delivery at the highest rate the server kept up with (its cheapest)."""
        kept = [p for p in self.phases if p.missing == 0] or self.phases
        return min((p.cpu_us_per_delivery for p in kept), default=float("nan"))


@dataclass
class Row:
    """One configuration's figures; a production tier has only those of the load it serves."""

    server: str
    http: Http | None
    gateway: Sse | None
    floor: Sse | None
    shared: bool = False  # its SSE figures are another row's run (the same configuration)


@dataclass
class ScaleOut:
    """One rate on one process and on two, in alternated rounds (a phase of each a round)."""

    rate: int
    one: list[Phase]
    two: list[Phase]

    @property
    def change(self) -> float:
        """The median, over the rounds, of two processes' CPU per delivery against one's."""
        pairs = zip(self.one, self.two, strict=True)
        return statistics.median(b.cpu_us_per_delivery / a.cpu_us_per_delivery for a, b in pairs) - 1

    @property
    def one_kept_up(self) -> bool:
        """One process delivered at this rate with p99 ≤ 50 ms. Past that it falls behind and writes
        several queued events per connection at a time, cheaper per delivery but seconds late: not
        a load to compare two processes with."""
        return _p99(self.one) <= 50

    @property
    def missing(self) -> int:
        return sum(p.missing for p in self.one + self.two)

    @property
    def duplicates(self) -> int:
        return sum(p.duplicates for p in self.one + self.two)


def wrk(url: str, headers: dict[str, str], seconds: int = WRK_SECONDS) -> tuple[float, float, int]:
    """(req/s, p99 ms, non-2xx answers) by wrk, or by bench.loadgen when wrk is not installed."""
    if not os.path.exists(WRK):
        return asyncio.run(_loadgen(url, headers, seconds))
    args = [WRK, "-t2", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return (
        rps,
        float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        int(errors.group(1)) if errors else 0,
    )


async def _loadgen(url: str, headers: dict[str, str], seconds: int) -> tuple[float, float, int]:
    port = int(url.split(":")[2].split("/")[0])
    path = "/" + url.split("/", 3)[3]
    result = await loadgen.run(
        "127.0.0.1", port, path, connections=WRK_CONNECTIONS, seconds=seconds, headers=headers
    )
    return result.rps, result.percentile(99) * 1000, result.errors


def http_rows(nats_url: str, folder: Path, chosen: Configs) -> dict[str, Http]:
    """`python -m gateway` under each configuration, auth_svc behind it."""
    procs = Procs(folder / "logs", {"NATS_URL": nats_url, "DATA_DIR": str(folder / "data")})
    out: dict[str, Http] = {}
    try:
        auth = procs.start("auth", "auth_svc")
        asyncio.run(procs.wait_ready([auth]))
        for n, (name, (server, env)) in enumerate(chosen.items()):
            gw = procs.start(f"gateway-{n}", "gateway", None, GATEWAY_SERVER=server, **env)
            try:
                asyncio.run(gw.wait_alive())  # not ready: only auth_svc runs behind it
                token = asyncio.run(_token(gw.url))
                bearer = {"authorization": f"Bearer {token}"}
                wrk(f"{gw.url}/auth/me", bearer, seconds=2)  # warm-up
                with server_proc(nats_url, (server, env), "bare") as bare:
                    runs = [
                        (wrk(f"{gw.url}/healthz", {}), wrk(f"http://127.0.0.1:{bare.port}/healthz", {}))
                        for _ in range(HTTP_ROUNDS)
                    ]
                bridged, p99, bridge_errors = wrk(f"{gw.url}/auth/me", bearer)
            finally:
                gw.terminate()
                gw.wait()
            errors = bridge_errors + sum(local[2] + floor[2] for local, floor in runs)
            out[name] = Http(
                [local[0] for local, _ in runs], [floor[0] for _, floor in runs], bridged, p99, errors
            )
    finally:
        procs.stop()
    return out


async def _token(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        return (await sign_up(http)).access_token


def sse_run(
    nats_url: str, config: tuple[str, dict[str, str]], role: str, n: int, rates: tuple[int, ...]
) -> Sse:
    server = config[0]
    users = [f"{role}-{server}-{len(config[1])}-{i}" for i in range(USERS)]
    with server_proc(nats_url, config, role) as gw:
        base = gw.rss()
        with clients(specs(gw.port, users, n // USERS, nats_url)) as procs:
            seconds = open_all(procs, n)
            time.sleep(2.0)
            kib = (gw.rss() - base) / n / KIB
            phases = [
                phase([gw], procs, nats_url, users, rate, fan=n // USERS, seconds=PHASE_SECONDS)
                for rate in rates
            ]
    return Sse(kib, seconds, phases)


def scale_out(
    nats_url: str, config: tuple[str, dict[str, str]], n: int, rates: tuple[int, ...]
) -> list[ScaleOut]:
    """`n` clients on one gateway process and, beside them, `n` more split over two processes on the
    same NATS (every user of theirs on both, so each event reaches both); each rate alternates
    between the two set-ups, SCALE_ROUNDS times, so both see the machine in the same state."""
    fan = n // USERS
    one_users = [f"scale-one-{i}" for i in range(USERS)]
    two_users = [f"scale-two-{i}" for i in range(USERS)]
    with (
        server_proc(nats_url, config, "sse") as one,
        server_proc(nats_url, config, "sse") as a,
        server_proc(nats_url, config, "sse") as b,
        clients(specs(one.port, one_users, fan, None)) as one_procs,
        clients(
            [*specs(a.port, two_users, fan // 2, None), *specs(b.port, two_users, fan // 2, None)]
        ) as two_procs,
    ):
        open_all(one_procs, n)
        open_all(two_procs, n)
        out = []
        for rate in rates:
            ones, twos = [], []
            for _ in range(SCALE_ROUNDS):
                ones.append(
                    phase([one], one_procs, nats_url, one_users, rate, fan=fan, seconds=PHASE_SECONDS)
                )
                twos.append(
                    phase([a, b], two_procs, nats_url, two_users, rate, fan=fan, seconds=PHASE_SECONDS)
                )
            out.append(ScaleOut(rate, ones, twos))
    return out


def own_cost(followers: int = 2_000, events: int = 300) -> float:
    """The gateway's own CPU µs per delivery, no server under it: the hub's delivery callback,
    each follower's Outbox and its pump (`EventsPlugin._pump`) writing to a `send` that does nothing.
    The best of 3 (the machine is shared)."""

    class Msg:
        def __init__(self, seq: int) -> None:
            self.headers = {"Nats-Sequence": str(seq), "Event": "ai_chat_chunk"}
            self.data = b'{"event":"ai_chat_chunk","delta":"1234567890"}'

    async def send(message: Any) -> None:
        return None

    async def once() -> float:
        plugin = EventsPlugin(Settings())
        topic = _Topic("bench")
        pumps = []
        for _ in range(followers):
            outbox = Outbox(1000)
            topic.outboxes.add(outbox)
            pumps.append(asyncio.ensure_future(plugin._pump(outbox, send)))
        await asyncio.sleep(0.1)
        deliver = Hub._deliver(topic)
        started = time.process_time()
        for seq in range(1, events + 1):
            await deliver(Msg(seq))  # type: ignore[arg-type]
            await asyncio.sleep(0)  # one event per loop turn: a write per event per follower
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        used = time.process_time() - started
        for outbox in topic.outboxes:
            outbox.close("shutdown")
        await asyncio.gather(*pumps)
        return used / (followers * events) * 1e6

    return min(asyncio.run(once()) for _ in range(3))


# --- the run and its report ----------------------------------------------------------------------


def run(n: int, servers: tuple[str, ...], rates: tuple[int, ...], write: bool) -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        nats_server = NatsServer(Path(folder) / "nats").start()
        try:
            asyncio.run(ensure_streams(nats_server.url))
            chosen = configs(servers)
            http = http_rows(
                nats_server.url, Path(folder), {k: v for k, v in chosen.items() if k != EVENTS_TIER}
            )
            rows = []
            measured: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Sse, Sse]] = {}
            for name, config in chosen.items():
                if name == REQUEST_TIER:
                    rows.append(Row(describe(name, config), http[name], None, None))
                    continue
                key = (config[0], tuple(sorted(config[1].items())))
                shared = key in measured
                if not shared:
                    print(f"-- {name}", flush=True)
                    measured[key] = (
                        sse_run(nats_server.url, config, "sse", n, rates),
                        sse_run(nats_server.url, config, "bare", n, rates),
                    )
                rows.append(Row(describe(name, config), http.get(name), *measured[key], shared=shared))
            events = chosen.get(EVENTS_TIER)
            # Two processes need two clients per user (one on each).
            scaled = scale_out(nats_server.url, events, n, SCALE_RATES) if events and n >= 2 * USERS else []
        finally:
            nats_server.stop()
    text = report(rows, scaled, n, load, chosen)
    print(text)
    if write:
        write_section("edge", text)


def report(rows: list[Row], scaled: list[ScaleOut], n: int, load: float, chosen: Configs) -> str:
    fan = n // USERS
    lines = [
        "## The edge: the gateway under each ASGI server (`python -m bench edge`)",
        "",
        f"Machine: {machine()}. 1-minute load average when the run started: {load:.1f} (the machine "
        "is shared: compare servers within this run, not with other runs).",
        f"HTTP: `wrk -t2 -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s` against `python -m gateway` "
        f"(auth_svc behind it, `GET /auth/me` with a real access token); `/healthz` and its floor: the "
        f"median of {HTTP_ROUNDS} runs, alternated. SSE: "
        f"{n:,} clients ({USERS} users × {fan}) on raw sockets in 2 client processes; events published to "
        f"JetStream by a separate process, {PHASE_SECONDS:.0f} s per rate, latency publish → client read. "
        "Floor: `BareFanout` (a trivial ASGI SSE app answering `/healthz` with a constant) under the "
        "same server. CPU: the server process's "
        "(Granian's Rust threads included), per delivery, at the cheapest rate it kept up with.",
        "",
        "| server | `/healthz` req/s (floor) | `/auth/me` req/s | `/auth/me` p99 ms "
        "| KiB per idle SSE client (floor) | deliveries/s at p99 ≤ 50 ms (floor) | p99 ms at that rate "
        "| CPU µs per delivery (floor) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r.server]
        cells += (
            [
                f"{r.http.local_rps:,.0f} ({r.http.floor_rps:,.0f})",
                f"{r.http.bridge_rps:,.0f}",
                f"{r.http.bridge_p99_ms:.1f}",
            ]
            if r.http
            else ["—"] * 3
        )
        if r.gateway and r.floor:
            best = r.gateway.best
            cells += [
                f"{r.gateway.kib:.1f} ({r.floor.kib:.1f})",
                f"{_rate(best)} ({_rate(r.floor.best)})",
                f"{best.p99 if best else float('nan'):.1f}",
                f"{r.gateway.cpu_us:.1f} ({r.floor.cpu_us:.1f})",
            ]
        else:
            cells += ["—"] * 4
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`/healthz` runs, gateway / floor, req/s: "
        + "; ".join(
            f"{r.server}: "
            + ", ".join(
                f"{g:,.0f} / {f:,.0f}" for g, f in zip(r.http.local_runs, r.http.floor_runs, strict=True)
            )
            for r in rows
            if r.http
        ),
        "",
        "Every delivery run (gateway, then its floor):",
        "",
        "| server | app | target/s | delivered/s | missing | p50 ms | p99 ms | server CPU "
        "| CPU µs per delivery |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.shared or r.gateway is None or r.floor is None:
            continue  # a production tier measured as a plain server's run: its phases are above
        for app, sse in (("gateway", r.gateway), ("floor", r.floor)):
            for p in sse.phases:
                lines.append(
                    f"| {r.server} | {app} | {p.target:,} | {p.delivered_per_s:,.0f} | {p.missing:,} "
                    f"| {p.p50:.1f} | {p.p99:.1f} | {p.cpu_share:.0%} | {p.cpu_us_per_delivery:.1f} |"
                )
    if scaled:
        lines += [
            "",
            f"Scale-out ({EVENTS_TIER}'s configuration): {n:,} clients on one gateway process, and "
            f"beside them {n:,} more split over two processes on the same NATS, every user of theirs "
            "on both (each event reaches both processes); each rate alternates between the two "
            f"set-ups {SCALE_ROUNDS} times. CPU µs per delivery of each round; the change is the "
            "median over the rounds of two against one:",
            "",
            "| deliveries/s | one process | two processes | change | p99 ms, one / two | missing "
            "| delivered twice |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {s.rate:,} | {_each(s.one)} | {_each(s.two)} | {s.change:+.0%} "
                f"| {_p99(s.one):.1f} / {_p99(s.two):.1f} "
                f"| {s.missing:,} | {s.duplicates:,} |"
                for s in scaled
            ),
        ]
    return "\n".join(lines + targets(rows, scaled, chosen))


def targets(rows: list[Row], scaled: list[ScaleOut], chosen: Configs) -> list[str]:
    """The edge's targets, each from the production tier that serves its load."""
    by_name = {name: row for name, row in zip(chosen, rows, strict=True)}
    requests, events = by_name.get(REQUEST_TIER), by_name.get(EVENTS_TIER)
    if requests is None or requests.http is None or events is None or events.gateway is None:
        return []
    sse = events.gateway
    best = sse.best
    fifty = best is not None and best.delivered_per_s >= 0.99 * 50_000
    cpu = sse.cpu_us
    kept = all(s.missing == 0 and s.duplicates == 0 for s in scaled)
    changes = ", ".join(
        f"{s.change:+.0%} at {s.rate:,}/s" + ("" if s.one_kept_up else " (one process fell behind)")
        for s in scaled
    )
    # Compared where one process keeps up (ScaleOut.one_kept_up).
    compared = [s for s in scaled if s.one_kept_up]
    within = bool(compared) and all(s.change <= 0.10 for s in compared)

    def status(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    req_server, ev_server = chosen[REQUEST_TIER][0], chosen[EVENTS_TIER][0]
    return [
        "",
        f"Targets per gateway process, as deploy/ runs the gateway: requests by `{REQUEST_TIER}` "
        f"({req_server}), the `/events` streams by `{EVENTS_TIER}` ({ev_server}):",
        "",
        "| target | tier | this run | status |",
        "|---|---|---|---|",
        f"| gateway-local ≥ 40,000 req/s | {REQUEST_TIER} | {requests.http.local_rps:,.0f} (the server "
        f"answering a constant: {requests.http.floor_rps:,.0f}) "
        f"| {status(requests.http.local_rps >= 40_000)} |",
        f"| ≤ 16 KiB per idle SSE client at 10,000 | {EVENTS_TIER} | {sse.kib:.1f} KiB "
        f"| {status(sse.kib <= 16)} |",
        f"| ≥ 50,000 deliveries/s at p99 ≤ 50 ms | {EVENTS_TIER} | {_rate(best)} | {status(fifty)} |",
        f"| or, where the 2 shared cores bound the run, ≤ 20 µs gateway CPU per delivery "
        f"| {EVENTS_TIER} | {cpu:.1f} µs | {status(cpu <= 20)} |",
        f"| two processes: every event exactly once to each client | {EVENTS_TIER} "
        f"| {sum(s.missing for s in scaled):,} missing, {sum(s.duplicates for s in scaled):,} twice "
        f"| {status(kept and bool(scaled))} |",
        f"| two processes: CPU per delivery within 10 % of one | {EVENTS_TIER} | {changes} "
        f"| {status(within)} |",
    ]


def describe(name: str, config: tuple[str, dict[str, str]]) -> str:
    server, env = config
    if not name.startswith(PRODUCTION):
        return server
    settings = ", ".join(f"`{k}={v}`" for k, v in env.items()) or "its defaults: the row above's run"
    return f"**{server}, as `{name}` runs it** ({settings})"


def _p99(phases: list[Phase]) -> float:
    """The median over rounds of each round's p99 (ms)."""
    return statistics.median(p.p99 for p in phases)


def _each(phases: list[Phase]) -> str:
    return ", ".join(f"{p.cpu_us_per_delivery:.1f}" for p in phases)


def _rate(p: Phase | None) -> str:
    return f"{p.delivered_per_s:,.0f}" if p else "none"


def main(argv: list[str] | None = None) -> None:
    """`python -m bench edge` runs everything and writes the report."""
    parser = argparse.ArgumentParser(prog="python -m bench.edge")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--rates", default=",".join(str(r) for r in RATES))
    args = parser.parse_args(argv or [])
    servers = tuple(s for s in args.servers.split(",") if s)
    rates = tuple(int(r) for r in args.rates.split(",") if r)
    run(args.clients, servers, rates, write=args.clients == CLIENTS and servers == SERVERS and rates == RATES)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve_role(sys.argv[2])
    elif sys.argv[1:2] == ["own"]:
        print(f"gateway's own CPU per delivery (no server): {own_cost():.2f} µs")
    else:
        main(sys.argv[1:])
