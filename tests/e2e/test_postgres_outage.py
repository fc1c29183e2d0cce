"""PostgreSQL stopped for 10 seconds under traffic: requests fail fast with a 503 envelope (never
a 500, never a hang), and everything works again when it returns, without restarting anything.

The database is one this test owns (pgserver's binaries in a temporary folder, stopped and
started with its own `pg_ctl`), never a shared server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.clients import REQUEST_BOUND, Api, Chats, Follower, Recorder, Turn
from tests.e2e.postgres import OwnPostgres
from tests.support.mesh import client
from tests.support.natsd import NatsServer
from tests.support.pg import fresh_database
from tests.support.poll import eventually
from tests.support.ports import free_port
from tests.support.procs import Procs
from tests.support.users import User, sign_up

pytestmark = pytest.mark.slow  # real processes, a few tens of seconds each

OUTAGE = 10.0
CLIENTS = 6


async def test_postgres_stopped_for_ten_seconds_under_traffic(
    nats_server: NatsServer, procs: Procs, own_postgres: OwnPostgres
) -> None:
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    procs.common_env.update(
        {
            "NATS_URL": nats_server.url,
            "DATABASE_URL": await fresh_database(own_postgres.url),
            "PUBLIC_URL": gateway_url,
            "OFFLINE_TOKEN_DELAY": "0.02",
            "PERSONA_REPLY_MAX_TOKENS": "12",
            "WORKER_SHUTDOWN_GRACE": "5",
        }
    )
    for name, module in [
        ("auth", "auth_svc"),
        ("persona", "persona_svc"),
        ("media", "media_svc"),
        ("worker", "generation_worker"),
    ]:
        procs.start(name, module)
    procs.start("gateway", "gateway", gateway_port)
    await procs.wait_ready()
    pids = {p.name: p.pid for p in procs.all}

    recorder = Recorder()
    api = Api(gateway_url, recorder)
    async with client(gateway_url) as http:
        users = [await sign_up(http, f"reader{i}") for i in range(CLIENTS)]
    followers = {u.id: Follower(gateway_url, u) for u in users}
    for f in followers.values():
        f.start()
    chats = Chats(api, followers)
    stopping = asyncio.Event()
    clients: list[asyncio.Task[None]] = []
    try:
        persona = await api.must(
            "POST",
            "/personas",
            users[0],
            "persona",
            expect=201,
            json={"name": "Odo", "description": "A librarian.", "greeting": "Shh.", "visibility": "public"},
        )
        conversations = [await chats.conversation(u, persona["id"]) for u in users]
        requests = _requests(persona["id"])
        # Which kinds of request answered 2xx after the database came back, and when first.
        recovered: dict[str, float] = {}
        timeline: dict[str, float] = {}
        rounds = [0] * CLIENTS

        async def traffic(i: int, user: User, cid: str) -> None:
            """One client: reads and writes on every service, and a chat turn whenever none runs."""
            turn: Turn | None = None
            n = 0
            while not stopping.is_set():
                for what, call in requests.items():
                    r = await call(api, user, cid, n)
                    if r is not None and r.status_code < 300 and "restarted" in timeline:
                        recovered.setdefault(what, time.monotonic())
                settled = True if turn is None else await _settled(api, turn)
                if settled is not False:  # done, or unknown (database away): try, as a user would
                    turn = await _turn(api, chats, user, cid, n) or turn
                    n += 1
                rounds[i] += 1
                await asyncio.sleep(0.2)

        clients = [
            asyncio.create_task(traffic(i, u, c))
            for i, (u, c) in enumerate(zip(users, conversations, strict=True))
        ]
        await eventually(lambda: min(rounds) >= 3, 60, "traffic before the outage")
        timeline["stopping"] = time.monotonic()
        await asyncio.to_thread(own_postgres.stop)
        timeline["stopped"] = time.monotonic()
        await asyncio.sleep(OUTAGE)
        await asyncio.to_thread(own_postgres.start)
        timeline["restarted"] = time.monotonic()
        back = datetime.now(UTC)
        await eventually(lambda: set(recovered) >= set(requests), 60, "every kind of request succeeds again")
        timeline["recovered"] = max(recovered.values())
        # Traffic goes on for a while: every client does two more full rounds, chat turns included.
        after = list(rounds)
        await eventually(
            lambda: (
                all(r >= a + 2 for r, a in zip(rounds, after, strict=True))
                and any(t.accepted_at > timeline["recovered"] for t in chats.accepted)
            ),
            60,
            "traffic after the outage",
        )
        stopping.set()
        await asyncio.gather(*clients)

        # Every accepted chat job completed, its reply stored exactly once; replies the worker
        # finished while the database was away were stored when it came back.
        held = 0
        for user, cid in zip(users, conversations, strict=True):
            replies = await _all_replies_done(api, chats, user, cid)
            early = {t.job_id for t in chats.accepted if t.accepted_at < timeline["stopping"]}
            held += sum(
                1 for m in replies if m["job_id"] in early and datetime.fromisoformat(m["updated_at"]) > back
            )

        async def all_done() -> bool:
            return all(
                {t.job_id for t in chats.accepted if t.user.id == uid} <= f.received_done()
                for uid, f in followers.items()
            )

        await eventually(all_done, 30, "every ai_chat_done on the SSE streams")
        for proc in procs.all:
            assert proc.alive and proc.pid == pids[proc.name], f"{proc.name} was restarted or died"
    finally:
        stopping.set()
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        for f in followers.values():
            await f.stop()
        await api.close()

    stopping_at, stopped, restarted = timeline["stopping"], timeline["stopped"], timeline["restarted"]
    failed = recorder.failures()
    # Not a hang: every request got an answer within the bound; not a crash: no 500, only 503s
    # in the error envelope; and only while the database was away.
    unanswered = [o for o in recorder.outcomes if o.status is None]
    assert not unanswered, f"requests without an answer within {REQUEST_BOUND:.0f}s: {unanswered[:5]}"
    assert all(o.status == 503 and o.code == "service_unavailable" for o in failed), Counter(
        (o.what, o.status, o.code) for o in failed
    )
    assert failed, "the outage was not seen by any client"
    assert all(stopping_at <= o.ended and o.started < timeline["recovered"] for o in failed)
    print(
        f"\n== PostgreSQL stopped for {OUTAGE:.0f} s (pg_ctl stop -m immediate, then start) ==\n"
        f"stopped at 0.0s (pg_ctl took {stopped - stopping_at:.1f}s), started again at "
        f"{restarted - stopped:.1f}s; every kind of request answered 2xx again by "
        f"{timeline['recovered'] - stopped:.1f}s\n"
        f"client errors: {recorder.summary(origin=stopped)}\n"
        f"by request: {dict(Counter(o.what for o in failed))}; slowest failed answer "
        f"{max(o.ended - o.started for o in failed):.2f}s\n"
        f"chat jobs accepted: {len(chats.accepted)}, every reply stored once; {held} of them finished "
        f"by the worker during the outage and stored after it; no process restarted"
    )


Call = Callable[[Api, User, str, int], Awaitable[Any]]


def _requests(persona_id: str) -> dict[str, Call]:
    """One request per service's database, reads and writes."""

    async def me(api: Api, user: User, cid: str, n: int) -> Any:
        return await api.call("GET", "/auth/me", user, "GET /auth/me")

    async def rename(api: Api, user: User, cid: str, n: int) -> Any:
        return await api.call(
            "PATCH", "/auth/me", user, "PATCH /auth/me", json={"display_name": f"reader {n}"}
        )

    async def persona(api: Api, user: User, cid: str, n: int) -> Any:
        return await api.call("GET", f"/personas/{persona_id}", user, "GET /personas/{id}")

    async def like(api: Api, user: User, cid: str, n: int) -> Any:
        method = "PUT" if n % 2 == 0 else "DELETE"
        return await api.call(method, f"/personas/{persona_id}/like", user, "PUT|DELETE like")

    async def messages(api: Api, user: User, cid: str, n: int) -> Any:
        return await api.call("GET", f"/conversations/{cid}/messages", user, "GET messages")

    async def media(api: Api, user: User, cid: str, n: int) -> Any:
        return await api.call("GET", "/media", user, "GET /media")

    return {
        "GET /auth/me": me,
        "PATCH /auth/me": rename,
        "GET /personas/{id}": persona,
        "PUT|DELETE like": like,
        "GET messages": messages,
        "GET /media": media,
    }


async def _settled(api: Api, turn: Turn) -> bool | None:
    """Whether the turn's reply is written; None when the service cannot tell right now."""
    r = await api.call("GET", f"/conversations/{turn.conversation_id}", turn.user, "GET conversation")
    if r is None or r.status_code != 200:
        return None
    return bool(r.json()["data"]["pending_job_id"] != turn.job_id)


async def _turn(api: Api, chats: Chats, user: User, cid: str, n: int) -> Turn | None:
    """Send one chat turn; a 503 (database away) or a 409 (a reply still pending) is an answer,
    the turn is simply not accepted (the final check proves nothing was stored for it)."""
    text = f"Turn {n} in {cid[:8]}: read me something."
    r = await api.call("POST", f"/conversations/{cid}/messages", user, "POST message", json={"content": text})
    if r is not None and r.status_code == 202:
        data = r.json()["data"]
        turn = Turn(user, cid, data["job_id"], data["reply_message_id"])
        chats.accepted.append(turn)
        return turn
    return None


async def _all_replies_done(api: Api, chats: Chats, user: User, cid: str) -> list[dict[str, Any]]:
    async def idle() -> bool:
        r = await api.call("GET", f"/conversations/{cid}", user, "verify")
        return r is not None and r.status_code == 200 and r.json()["data"]["pending_job_id"] is None

    await eventually(idle, 60, f"conversation {cid} settles")
    messages = (await chats.messages(user, cid))[1:]
    accepted = {t.job_id for t in chats.accepted if t.conversation_id == cid}
    replies = [m for m in messages if m["role"] == "assistant"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * len(replies)
    assert sorted(m["job_id"] for m in replies) == sorted(accepted)
    assert all(m["status"] == "done" and m["content"] for m in replies), replies
    return replies
