"""Group rooms under load: 50 members connected over SSE to one room with 3 personas, 5 of them
writing; and the tokens/s a member sees of a persona's reply against a one-to-one chat's,
streamed at the same time in the same run (`python -m bench rooms`).

Real processes (auth_svc, persona_svc, the worker with the offline provider pacing tokens like a
model, a gateway) on a fresh nats-server with the memory stores; the clients are one process
(httpx, one SSE stream per member). Latency is from the moment a writer's `POST …/messages`
leaves to the moment each member's stream delivers its `room_message`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.procs import percentile
from bench.report import machine, write_section
from tests.support.natsd import NatsServer
from tests.support.procs import Procs
from tests.support.rooms import MARA, OTTO
from tests.support.sse import SseStream, open_stream
from tests.support.users import User, sign_up

MEMBERS = 50
WRITERS = 5
# A member may post 8 messages per 20 s in a room (persona_svc/rooms.py): each writer sends a
# burst of that many, as fast as the answers come.
BURST = 8
TOKEN_DELAY = 0.05  # 20 tokens/s per reply, a hosted model's pace
IVY = {**MARA, "name": "Ivy Lund", "description": "A ferry-boat cook with opinions about soup."}


async def stream_events(
    http: httpx.AsyncClient, user: User, channel: str, ready: asyncio.Event, sink: list[Any]
) -> None:
    async with open_stream(http, params={"channels": channel}, headers=user.headers) as sse:
        ready.set()
        await pump(sse, sink)


async def pump(sse: SseStream, sink: list[Any]) -> None:
    while True:
        try:
            event = await sse.next(timeout=600)
        except EOFError:
            return
        sink.append((event.received_at, event.event, event.data))


def token_rate(events: list[Any], channel: str, job_id: str) -> float:
    """Chunks per second of one reply as one client saw them (first to last chunk)."""
    times = [
        t
        for t, name, data in events
        if name == "ai_chat_chunk" and data.get("job_id") == job_id and data["channel"] == channel
    ]
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 else 0.0


async def scenario(url: str) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=MEMBERS * 2 + 20, max_keepalive_connections=MEMBERS * 2 + 20)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as http:
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> User:
            async with gate:
                return await sign_up(http, f"member{i}")

        members = list(await asyncio.gather(*(one(i) for i in range(MEMBERS))))
        solo = await sign_up(http, "solo")
        owner = members[0]
        personas = []
        for body in (MARA, OTTO, IVY):
            r = await http.post("/personas", json=body, headers=owner.headers)
            personas.append(r.json()["data"]["id"])
        r = await http.post(
            "/rooms", json={"title": "Bench harbour", "persona_ids": personas}, headers=owner.headers
        )
        room_id = r.json()["data"]["room"]["id"]
        code = (await http.post(f"/rooms/{room_id}/invites", json={}, headers=owner.headers)).json()["data"][
            "code"
        ]
        for m in members[1:]:
            async with gate:
                assert (
                    await http.post("/rooms/join", json={"code": code}, headers=m.headers)
                ).status_code == 200
        r = await http.post(f"/personas/{personas[0]}/conversations", headers=solo.headers)
        conversation = r.json()["data"]["conversation"]["id"]

        channel = f"channel:{room_id}"
        sinks: list[list[Any]] = [[] for _ in members]
        readies = [asyncio.Event() for _ in members]
        tasks = [
            asyncio.create_task(stream_events(http, m, channel, readies[i], sinks[i]))
            for i, m in enumerate(members)
        ]
        solo_sink: list[Any] = []
        solo_ready = asyncio.Event()
        tasks.append(
            asyncio.create_task(stream_events(http, solo, f"channel:{conversation}", solo_ready, solo_sink))
        )
        for ready in [*readies, solo_ready]:
            await ready.wait()
        await asyncio.sleep(1.0)

        # Messages: WRITERS members post a burst each, at once.
        sent: dict[str, float] = {}

        async def write(w: User, n: int) -> None:
            for k in range(BURST):
                text = f"note {n}-{k} from the bench"
                sent[text] = time.monotonic()
                r = await http.post(f"/rooms/{room_id}/messages", json={"content": text}, headers=w.headers)
                assert r.status_code == 202, r.text

        started = time.monotonic()
        await asyncio.gather(*(write(w, n) for n, w in enumerate(members[1 : WRITERS + 1])))
        accepted_s = time.monotonic() - started
        total = WRITERS * BURST
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            sum(1 for _, n, _ in s if n == "room_message") < total for s in sinks
        ):
            await asyncio.sleep(0.1)
        latencies = []
        last_member = []
        for text, t0 in sent.items():
            arrivals = [
                t
                for s in sinks
                for t, name, data in s
                if name == "room_message" and data["message"]["content"] == text
            ]
            latencies += [(t - t0) * 1000 for t in arrivals]
            if len(arrivals) == MEMBERS:
                last_member.append((max(arrivals) - t0) * 1000)
        delivered = sum(1 for s in sinks for _, n, _ in s if n == "room_message")

        # Tokens: a room reply per persona, one after the other (the room's queue), while the
        # solo user chats with the same persona card at the same time.
        rates: list[float] = []
        solo_rates: list[float] = []
        for persona in personas:
            turn = (
                await http.post(
                    f"/rooms/{room_id}/messages",
                    json={"content": "Tell us a story", "persona_id": persona},
                    headers=owner.headers,
                )
            ).json()["data"]
            chat = (
                await http.post(
                    f"/conversations/{conversation}/messages",
                    json={"content": "Tell me a story"},
                    headers=solo.headers,
                )
            ).json()["data"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                room_done = all(
                    any(n == "ai_chat_done" and d.get("job_id") == turn["job_id"] for _, n, d in s)
                    for s in sinks
                )
                solo_done = any(
                    n == "ai_chat_done" and d.get("job_id") == chat["job_id"] for _, n, d in solo_sink
                )
                if room_done and solo_done:
                    break
                await asyncio.sleep(0.1)
            rates += [token_rate(s, channel, turn["job_id"]) for s in sinks]
            solo_rates.append(token_rate(solo_sink, f"channel:{conversation}", chat["job_id"]))
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    return {
        "accepted_per_s": total / accepted_s,
        "accepted_s": accepted_s,
        "delivered": delivered,
        "expected": total * MEMBERS,
        "latencies": latencies,
        "last_member": last_member,
        "rates": [r for r in rates if r > 0],
        "solo_rates": [r for r in solo_rates if r > 0],
    }


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        server = NatsServer(Path(folder) / "nats").start()
        procs = Procs(
            Path(folder) / "logs",
            {
                "NATS_URL": server.url,
                "DATA_DIR": str(Path(folder) / "data"),
                "OFFLINE_TOKEN_DELAY": str(TOKEN_DELAY),
                "SSE_MAX_STREAMS_PER_USER": "100",
            },
        )
        try:
            # The gateway is ready once every service it routes to answers, media_svc included.
            for name in ("auth_svc", "persona_svc", "media_svc", "generation_worker"):
                procs.start(name, name)
            gw = procs.start("gateway", "gateway")
            asyncio.run(procs.wait_ready())
            result = asyncio.run(scenario(gw.url))
        finally:
            procs.stop()
            server.stop()

    def pct(values: list[float], p: float) -> float:
        return percentile([int(v * 1000) for v in values], p) / 1000

    rates, solo = result["rates"], result["solo_rates"]
    room_rate = sum(rates) / len(rates) if rates else 0.0
    solo_rate = sum(solo) / len(solo) if solo else 0.0
    cost = 1 - room_rate / solo_rate if solo_rate else float("nan")
    each, last = result["latencies"], result["last_member"]
    verdict = "met" if cost <= 0.10 else "not met"
    lines = [
        "## Group rooms: 50 members, 3 personas, 5 writers",
        "",
        f"Machine: {machine()}. 1-minute load average when the run started: {load:.1f}.",
        "Real processes (auth_svc, persona_svc, media_svc, the worker with the offline provider at one "
        f"token every {TOKEN_DELAY * 1000:.0f} ms, a gateway) on one nats-server, memory stores; "
        f"{MEMBERS} members each with an SSE stream on the room, in one client process. {WRITERS} "
        f"members post a burst of {BURST} messages each (the per-member limit) at once. Then a reply "
        "from each persona in turn, while one other user chats one to one with the same persona card "
        "at the same time (the baseline). Run with `python -m bench rooms`.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| member messages accepted | {result['accepted_per_s']:.1f}/s "
        f"({WRITERS * BURST} in {result['accepted_s']:.2f} s) |",
        f"| room_message deliveries | {result['delivered']:,} of {result['expected']:,} |",
        f"| post → each member's SSE, p50 / p99 | {pct(each, 50):.1f} / {pct(each, 99):.1f} ms |",
        f"| post → the last of the {MEMBERS} members, p50 / p99 "
        f"| {pct(last, 50):.1f} / {pct(last, 99):.1f} ms |",
        f"| tokens/s each room member sees (mean of {len(rates)}) | {room_rate:.2f} |",
        f"| tokens/s of the one-to-one chat, same run (mean of {len(solo)}) | {solo_rate:.2f} |",
        f"| **cost of the room per member** | **{cost:.1%}** (target ≤ 10 %: {verdict}) |",
    ]
    write_section("rooms", "\n".join(lines))
    print("\n".join(lines))
