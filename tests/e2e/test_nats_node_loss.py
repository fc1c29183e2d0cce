"""A NATS node dies mid-run and comes back: nothing accepted is lost or stored twice.

A 3-node cluster (streams at replicas 3); the gateway, two replicas of each service and two
workers as real processes spread over the nodes, all services on one PostgreSQL database.
While 300 chat replies and 30 images are generated through the public API, the node the gateway
is connected to is SIGKILLed, then restarted. Every accepted job completes, every reply and
media item is stored once, and each user's SSE stream, reconnecting with Last-Event-ID, gets
every `ai_chat_done`. The errors clients saw are printed (`-s`) for the operations notes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import pytest

from proto.subjects import STREAM_EVENTS, STREAM_JOBS, STREAM_RESULTS
from tests.e2e.clients import Api, Chats, Follower, Images, Recorder, Turn
from tests.e2e.conftest import MonitoredCluster
from tests.support.mesh import client
from tests.support.pg import fresh_database
from tests.support.poll import eventually
from tests.support.ports import free_port
from tests.support.procs import Procs
from tests.support.users import User, sign_up

pytestmark = pytest.mark.slow  # real processes, a few tens of seconds each

USERS = 6
CONVERSATIONS_PER_USER = 10
TURNS = 5  # 6 users × 10 conversations × 5 turns = 300 chat jobs
IMAGES = 30
CHAT_JOBS = USERS * CONVERSATIONS_PER_USER * TURNS

# Which node each process connects to first (its only configured URL: the others are learnt
# from the cluster, as a client given one seed address does), so every node serves clients.
LAYOUT = [
    ("gateway", "gateway", 0),
    ("auth-1", "auth_svc", 1),
    ("auth-2", "auth_svc", 2),
    ("persona-1", "persona_svc", 2),
    ("persona-2", "persona_svc", 0),
    ("media-1", "media_svc", 0),
    ("media-2", "media_svc", 1),
    ("worker-1", "generation_worker", 1),
    ("worker-2", "generation_worker", 2),
]
VICTIM = 0  # the gateway's node: API calls, SSE streams and one replica of two services move

PERSONA = {
    "name": "Captain Maren",
    "description": "A retired sea captain who runs a lighthouse.",
    "personality": "Gruff, warm underneath, superstitious about gulls.",
    "greeting": "Ahoy. Mind the gulls.",
    "visibility": "public",
}


def mesh_env(database_url: str, gateway_url: str) -> dict[str, str]:
    return {
        "JS_REPLICAS": "3",
        "DATABASE_URL": database_url,
        "DB_POOL_MAX": "5",
        "PUBLIC_URL": gateway_url,
        "MEDIA_URL_SECRET": "e2e-media-url-secret",
        # Sized for a 2-core machine: short replies at a model-like pace, small images.
        "OFFLINE_TOKEN_DELAY": "0.02",
        "PERSONA_REPLY_MAX_TOKENS": "12",
        "IMAGE_SIZE": "256x256",
        "MAX_GENERATIONS_PER_USER": "10",
        # A job whose ack was lost with the node is redelivered after this long.
        "JOB_ACK_WAIT": "6",
        "REQUEST_TIMEOUT": "15",
        "SSE_HEARTBEAT": "5",
        "WORKER_SHUTDOWN_GRACE": "5",
    }


async def test_a_nats_node_dies_and_returns_while_jobs_run(
    cluster: MonitoredCluster, procs: Procs, postgres_url: str
) -> None:
    database_url = await fresh_database(postgres_url)
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    procs.common_env.update(mesh_env(database_url, gateway_url))
    # In two waves, as a rollout would: replicas creating the same bucket on a fresh cluster at
    # the same instant can find it without a leader yet and exit (a supervisor would restart them).
    for wave in (LAYOUT[1::2], LAYOUT[0::2]):
        running = [
            procs.start(
                name, module, gateway_port if module == "gateway" else None, NATS_URL=cluster.nodes[home].url
            )
            for name, module, home in wave
        ]
        await procs.wait_ready(running)
    victim = cluster.nodes[VICTIM]
    placement = {node.name: await cluster.clients(node) for node in cluster.nodes}
    assert {"gateway", "gateway-sse"} <= set(placement[victim.name]), placement
    # The worst case: the victim leads the mesh's streams and their consumers.
    leaders = await cluster.lead_from(victim, [STREAM_JOBS, STREAM_EVENTS, STREAM_RESULTS])

    recorder = Recorder()
    api = Api(gateway_url, recorder)
    async with client(gateway_url) as http:
        creator = await sign_up(http, "creator")
        users = [await sign_up(http, f"chatter{i}") for i in range(USERS)]
    persona = await api.must("POST", "/personas", creator, "persona", expect=201, json=PERSONA)
    # Images go to a persona of one's own (only its owner adds media to a persona).
    galleries = {
        u.id: (await api.must("POST", "/personas", u, "persona", expect=201, json=PERSONA))["id"]
        for u in users
    }
    followers = {u.id: Follower(gateway_url, u) for u in users}
    for f in followers.values():
        f.start()
    chats = Chats(api, followers)
    images = Images(api, followers)
    faults: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(asyncio.gather(*(f.connected.wait() for f in followers.values())), 30)
        conversations = await asyncio.gather(
            *(chats.conversation(u, persona["id"]) for u in users for _ in range(CONVERSATIONS_PER_USER))
        )
        owners = [u for u in users for _ in range(CONVERSATIONS_PER_USER)]
        timeline: dict[str, float] = {}

        async def fault() -> None:
            await eventually(lambda: len(chats.accepted) >= CHAT_JOBS // 3, 120, "a third of the chats")
            cluster.kill(victim)
            timeline["killed"] = time.monotonic()
            # Down until another third is accepted (the rest must go on without it), 25 s at most.
            latest = time.monotonic() + 25
            await eventually(
                lambda: len(chats.accepted) >= 2 * CHAT_JOBS // 3 or time.monotonic() > latest,
                60,
                "the second third",
            )
            await asyncio.to_thread(cluster.start_node, victim)
            timeline["restarted"] = time.monotonic()

        async def make_images() -> list[dict[str, Any]]:
            # Spread over the whole run: image n starts once n × 9 chat jobs were accepted.
            async def one(n: int) -> dict[str, Any]:
                user = users[n % USERS]
                await eventually(lambda: len(chats.accepted) >= n * 9, 150, f"chat turns before image {n}")
                return await images.wait_ready(await images.generate(user, galleries[user.id], n))

            return await asyncio.gather(*(one(n) for n in range(IMAGES)))

        started = time.monotonic()
        faults = asyncio.create_task(fault())
        finished_images, *_ = await asyncio.gather(
            make_images(),
            *(chats.converse(u, c, TURNS) for u, c in zip(owners, conversations, strict=True)),
        )
        await faults
        run_seconds = time.monotonic() - started

        # Every accepted chat job completed, and its reply is stored exactly once.
        assert len(chats.accepted) == CHAT_JOBS
        assert len({t.job_id for t in chats.accepted}) == CHAT_JOBS
        replies = await _verify_conversations(chats, owners, conversations)
        # Every accepted image is ready, stored once, and nothing else was created.
        assert len(images.accepted) == IMAGES
        assert all(item["status"] == "ready" for item in finished_images), finished_images
        stored = await _verify_media(api, images, users)

        # Each SSE stream, resumed with Last-Event-ID after every end, got every ai_chat_done.
        async def all_events() -> bool:
            return all(
                {t.job_id for t in chats.accepted if t.user.id == uid} <= f.received_done()
                and {m.media_id for m in images.accepted if m.user.id == uid} <= f.received_ready()
                for uid, f in followers.items()
            )

        await eventually(all_events, 30, "every ai_chat_done and media_ready on the SSE streams")
        for f in followers.values():
            # The gateway's live connection was on the victim: every stream ended and was resumed.
            assert f.opened >= 2, "an SSE stream was never resumed"
            assert not f.repeated, f"SSE ids repeated after resuming: {f.repeated[:10]}"
            assert not f.resyncs, f"Last-Event-ID was not honoured: {f.resyncs}"
        # Not a hang: every request got an HTTP answer within the bound (the gateway's own
        # REQUEST_TIMEOUT answers 504 before it).
        unanswered = [o for o in recorder.outcomes if o.status is None]
        assert not unanswered, unanswered[:5]
        for proc in procs.all:
            assert proc.alive, f"{proc.name} died:\n{proc.tail()}"
    finally:
        if faults is not None and not faults.done():
            faults.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await faults
        for f in followers.values():
            await f.stop()
        await api.close()

    killed, restarted = timeline["killed"], timeline["restarted"]
    print(
        "\n== NATS node loss (3-node cluster, R3 streams) ==\n"
        f"placement before the kill: {placement}\n"
        f"{victim.name} led, when killed: {_grouped(leaders, victim.name)}\n"
        f"killed {victim.name} (the gateway's node) at t={killed - started:.1f}s, "
        f"restarted it {restarted - killed:.1f}s later; run took {run_seconds:.1f}s\n"
        f"jobs: {len(chats.accepted)} chat replies accepted, {replies['done']} stored done; "
        f"{len(images.accepted)} images accepted, {stored} stored ready; lost: 0, duplicates: 0\n"
        f"turns refused with 503 after being stored (reply marked failed, client re-sent): "
        f"{replies['refused']}\n"
        f"client errors before the kill: {recorder.summary(0, killed, killed)}\n"
        f"client errors from the kill on (t=0: the kill): {recorder.summary(killed, float('inf'), killed)}\n"
        f"  by request: {dict(Counter(o.what for o in recorder.failures(killed)))}\n"
        f"  of those, ended after the restart: {recorder.summary(restarted, float('inf'), killed)}\n"
        f"  slowest answer while the node was down: {recorder.slowest(killed, restarted):.1f}s, "
        f"after its restart: {recorder.slowest(restarted):.1f}s\n"
        f"SSE: {sum(f.opened for f in followers.values())} stream openings for {USERS} clients "
        f"(reconnects with Last-Event-ID), refused/ended: "
        f"{dict(sum((f.refused for f in followers.values()), Counter()))}, "
        f"resyncs: {sum(len(f.resyncs) for f in followers.values())}, repeated ids: 0"
    )


async def _verify_conversations(chats: Chats, owners: list[User], conversations: list[str]) -> dict[str, int]:
    """Read every conversation back: each user message has exactly one reply right after it;
    accepted jobs' replies are done; the only other replies are turns refused with a 503."""
    by_job: dict[str, Turn] = {t.job_id: t for t in chats.accepted}
    seen_jobs: Counter[str] = Counter()
    refused = 0

    async def settled(user: User, cid: str) -> list[dict[str, Any]]:
        async def idle() -> bool:
            r = await chats.api.call("GET", f"/conversations/{cid}", user, "verify")
            return r is not None and r.status_code == 200 and r.json()["data"]["pending_job_id"] is None

        await eventually(idle, 60, f"conversation {cid} settles")
        return await chats.messages(user, cid)

    threads = await asyncio.gather(*(settled(u, c) for u, c in zip(owners, conversations, strict=True)))
    for messages in threads:
        assert messages[0]["role"] == "assistant" and messages[0]["job_id"] is None  # the greeting
        rest = messages[1:]
        assert len(rest) % 2 == 0, [m["role"] for m in messages]
        for mine, reply in zip(rest[::2], rest[1::2], strict=True):
            assert mine["role"] == "user" and reply["role"] == "assistant", (mine, reply)
            assert reply["job_id"] is not None
            if reply["job_id"] in by_job:
                assert reply["status"] == "done" and reply["content"], reply
                assert by_job[reply["job_id"]].reply_message_id == reply["id"]
                seen_jobs[reply["job_id"]] += 1
            else:
                # Stored, then refused with 503 when the job could not be queued.
                assert reply["status"] == "failed" and reply["error"] == "could not queue the job", reply
                refused += 1
    assert set(seen_jobs) == set(by_job), "accepted jobs without a stored reply"
    assert max(seen_jobs.values()) == 1, "a reply stored twice"
    return {"done": sum(seen_jobs.values()), "refused": refused}


async def _verify_media(api: Api, images: Images, users: list[User]) -> int:
    """Each user's media, read back: exactly the accepted generations, each ready, none twice."""
    total = 0
    for user in users:
        items = await api.pages("/media", user, "verify media")
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids)), "a media item listed twice"
        expected = {m.media_id for m in images.accepted if m.user.id == user.id}
        assert set(ids) == expected
        assert all(item["status"] == "ready" and item["kind"] == "image" for item in items), items
        jobs = [item["job_id"] for item in items]
        assert len(jobs) == len(set(jobs))
        total += len(items)
    return total


def _grouped(leaders: dict[str, str], node: str) -> str:
    led = [what for what, leader in leaders.items() if leader == node]
    others = {what: leader for what, leader in leaders.items() if leader != node}
    return f"{', '.join(led) or 'nothing'}; elsewhere: {others}"
