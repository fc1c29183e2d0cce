"""The embedded language model through the whole mesh against the model server called directly,
in the same run, on the same machine (`python -m bench llm`; `BENCH_MODEL` picks another packaged
model, e.g. smollm2-135m-instruct for a quick look).

- Speed of one chat: tokens/s an SSE client sees (chunk arrivals through worker, NATS and gateway)
  against a direct streamed call; time to first token through the mesh minus the server's own for
  the same messages, both with the prompt already in the server's cache.
- Prompt cache: time to first token of turns 1 and 5 of conversations with a ~600-token persona.
- 1, 4 and 8 concurrent chats (the server has 8 slots): aggregate tokens/s, time to first token."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.modelmesh import DEFAULT_MODEL, ModelMesh, Reply, model_mesh, percentile
from bench.report import machine, write_section

SLOTS = 8
REPLY_TOKENS = 96
TRIALS = 16
SPEED_REPLIES = 5
CACHE_CONVERSATIONS = 3
TURNS = 5
LEVELS = (1, 4, 8)

SHORT_PERSONA = {
    "name": "Captain Mira Vance",
    "description": "Mira commands the airship Kestrel and has sailed the cloud seas for twenty years.",
    "personality": "bold, wry, loyal to her crew",
    "greeting": "*Mira looks up from her charts.* Welcome aboard the Kestrel, {{user}}.",
    "visibility": "private",
}
# About 600 tokens of character definition, as a well-written community persona has.
LONG_DESCRIPTION = " ".join(
    [
        "Professor Elias Thornbury is the last keeper of the Ashgrove Observatory, a crumbling stone "
        "tower on a cliff above a fishing village that has forgotten why the tower was built.",
        "He is sixty-three, tall and stooped, with ink-stained fingers, a moth-eaten velvet coat and "
        "spectacles he pushes up his nose whenever he is about to say something he thinks is clever.",
        "He speaks in long, winding sentences full of digressions about comets, tide tables, his late "
        "wife Margarethe's terrible cooking, and the correspondence he keeps with astronomers who died "
        "decades ago, whose letters he still answers out of habit.",
        "He believes, quietly and completely, that the night sky is a message written to the village "
        "and that he alone has been reading it for forty years.",
        "He is kind to children and cats, suspicious of the harbour master, and terrified of the sea, "
        "which he has never once entered.",
        "He keeps a logbook of every clear night since 1983, a brass telescope named Old Harriet, a "
        "jar of peppermints for visitors, and a locked drawer he never opens while anyone watches.",
        "When he is nervous he polishes lenses that are already clean. When he is happy he hums "
        "fragments of hymns and gets the words wrong.",
        "He calls the visitor 'my dear colleague' from the first minute, as if they were a fellow "
        "scientist who had arrived by appointment, and he is delighted by any question at all.",
        "Lately something has changed: a new light has appeared low in the northern sky, it does not "
        "move with the stars, the gulls have stopped nesting on the tower, and the Professor has not "
        "slept properly in a week.",
        "He wants desperately to tell someone and is afraid that saying it aloud will make it real.",
    ]
    * 2
)
LONG_PERSONA = {
    "name": "Professor Elias Thornbury",
    "description": LONG_DESCRIPTION,
    "personality": "kind, rambling, superstitious, brilliant, lonely, easily delighted, secretly frightened",
    "scenario": "{{user}} climbs the tower stairs on a stormy evening and knocks on the observatory door.",
    "greeting": "*The door creaks open and a tall old man peers out.* Ah! My dear colleague. Come in!",
    "visibility": "private",
}
QUESTIONS = [
    "Good evening, Professor. What are you looking at tonight?",
    "What is that strange light in the north?",
    "Why have the gulls stopped nesting on the tower?",
    "What do you keep in the locked drawer?",
    "Should we tell the harbour master about any of this?",
]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


async def one_chat_speed(mesh: ModelMesh) -> dict[str, float]:
    """Tokens/s and the time to first token added by the mesh, for the same messages."""
    async with mesh.user("Sam") as user:
        persona = await user.persona(SHORT_PERSONA)
        added: list[float] = []
        own: list[float] = []
        accepted: list[float] = []
        started: list[float] = []
        mesh_rates: list[float] = []
        direct_rates: list[float] = []
        for trial in range(TRIALS):
            conversation = await user.conversation(persona)
            content = f"Tell me about voyage number {trial + 1} of the Kestrel."
            # The prompt as the worker will send it: the greeting, then this message.
            messages = await user.prompt(conversation, persona, mesh.settings, content)
            await mesh.direct.chat(messages, max_tokens=1)  # the prompt is now in the server's cache
            through = await user.chat(conversation, content)
            direct = await mesh.direct.chat(messages, max_tokens=REPLY_TOKENS if trial < SPEED_REPLIES else 1)
            added.append(through.ttft - direct.ttft)
            own.append(direct.ttft)
            accepted.append(through.accepted - through.asked)
            started.append(through.started - through.asked)
            if trial < SPEED_REPLIES:
                mesh_rates.append(through.tokens_per_second)
                direct_rates.append(direct.tokens_per_second)
    return {
        "mesh_tps": statistics.median(mesh_rates),
        "direct_tps": statistics.median(direct_rates),
        "added_p50": percentile(added, 50),
        "added_p99": percentile(added, 99),
        "own_ttft_p50": percentile(own, 50),
        "accepted_p50": percentile(accepted, 50),
        "started_p50": percentile(started, 50),
    }


async def cache_turns(mesh: ModelMesh) -> dict[int, list[float]]:
    """Time to first token of each turn of conversations with a ~600-token persona."""
    by_turn: dict[int, list[float]] = {turn: [] for turn in range(1, TURNS + 1)}
    async with mesh.user("Ada") as user:
        for n in range(CACHE_CONVERSATIONS):
            # A persona of its own per conversation, so every first turn reads its prompt uncached.
            body = {**LONG_PERSONA, "description": f"(Night {n + 1} of the logbook.) {LONG_DESCRIPTION}"}
            conversation = await user.conversation(await user.persona(body))
            for turn, question in enumerate(QUESTIONS[:TURNS], start=1):
                by_turn[turn].append((await user.chat(conversation, question)).ttft)
    return by_turn


async def concurrency(mesh: ModelMesh, level: int) -> tuple[float, list[float]]:
    """`level` users chatting at once, two rounds: aggregate tokens/s and each reply's first token."""
    async with contextlib.AsyncExitStack() as stack:
        users = [await stack.enter_async_context(mesh.user(f"c{level}u{i}")) for i in range(level)]
        conversations = [await u.conversation(await u.persona(SHORT_PERSONA)) for u in users]
        replies: list[Reply] = []
        started = time.perf_counter()
        for round_ in range(2):
            ask = f"Round {round_ + 1}: tell me about your crew."
            replies += await asyncio.gather(
                *(u.chat(c, ask) for u, c in zip(users, conversations, strict=True))
            )
        seconds = time.perf_counter() - started
    tokens = sum(len(r.token_times) for r in replies)
    return tokens / seconds, [r.ttft for r in replies]


async def run() -> str:
    model = os.environ.get("BENCH_MODEL", DEFAULT_MODEL)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        async with model_mesh(Path(folder), model=model, slots=SLOTS, reply_tokens=REPLY_TOKENS) as mesh:
            speed = await one_chat_speed(mesh)
            turns = await cache_turns(mesh)
            levels = {level: await concurrency(mesh, level) for level in LEVELS}
    ratio = speed["mesh_tps"] / speed["direct_tps"]
    turn1, turn5 = percentile(turns[1], 50), percentile(turns[TURNS], 50)
    lines = [
        "## The embedded language model through the mesh",
        "",
        f"Machine: {machine()}. Model: `{model}` in llama.cpp's server (xllamacpp), {SLOTS} slots, "
        f"{os.cpu_count()} threads; the whole mesh as processes (nats-server, auth_svc, persona_svc, "
        "media_svc, the worker, the gateway) and clients reading SSE through the gateway, against the "
        "model server called directly with the same messages, in the same run. Replies up to "
        f"{REPLY_TOKENS} tokens. 1-minute load average at the start: {load:.1f}. Run with "
        "`python -m bench llm`.",
        "",
        "| one chat | through the mesh | model server directly | target |",
        "|---|---|---|---|",
        f"| tokens/s (median of {SPEED_REPLIES} replies) | {speed['mesh_tps']:.1f} "
        f"| {speed['direct_tps']:.1f} "
        f"| mesh ≥ 95 % of direct: **{ratio:.0%}, {'met' if ratio >= 0.95 else 'not met'}** |",
        f"| time to first token, prompt cached (p50 of {TRIALS}) | +{ms(speed['added_p50'])} ms added "
        f"(p99 +{ms(speed['added_p99'])} ms) | {ms(speed['own_ttft_p50'])} ms | added p50 ≤ 5 ms: "
        f"**{'met' if speed['added_p50'] <= 0.005 else 'not met'}** |",
        "",
        f"On the way (p50, from the client's `POST …/messages`): its `202` after "
        f"{speed['accepted_p50'] * 1000:.1f} ms (the turn stored, the job durable in JetStream); "
        f"`ai_chat_started` at the client after {speed['started_p50'] * 1000:.1f} ms (sent by the "
        "worker once its cancel-marker check passed, while the model already reads the prompt).",
        "",
        f"Prompt cache, a ~600-token persona ({CACHE_CONVERSATIONS} conversations of {TURNS} turns, through "
        "the mesh):",
        "",
        "| turn | time to first token p50 | max |",
        "|---|---|---|",
        *(
            f"| {turn} | {ms(percentile(v, 50))} ms | {ms(max(v))} ms |"
            for turn, v in turns.items()
            if turn in (1, 2, TURNS)
        ),
        "",
        f"Turn {TURNS} ≤ 1.5 s p50: **{'met' if turn5 <= 1.5 else 'not met'}** ({ms(turn5)} ms; turn 1, "
        f"the whole prompt uncached: {ms(turn1)} ms).",
        "",
        "| concurrent chats | aggregate tokens/s | time to first token p50 | p99 |",
        "|---|---|---|---|",
        *(
            f"| {level} | {tps:.1f} | {ms(percentile(ttft, 50))} ms | {ms(percentile(ttft, 99))} ms |"
            for level, (tps, ttft) in levels.items()
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    body = asyncio.run(run())
    write_section("llm", body)
    print(body)


if __name__ == "__main__":
    main()
