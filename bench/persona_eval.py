"""How well the default model keeps its characters and writes drafts (`python -m bench persona_eval`;
`BENCH_MODEL` picks another packaged model).

Five starter personas of different genres, ten scripted turns each, through the whole mesh as a user
chats; each reply is checked: not empty, no admission of being an AI or a model, no assistant's
refusal, not a repeat of the user's words, in the first person. Then drafts from ten ideas: the
share that validate. Measured and reported, never asserted in a test: the prose is the model's."""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import tempfile
from pathlib import Path

import msgspec

from bench.modelmesh import DEFAULT_MODEL, model_mesh
from bench.report import machine, write_section
from generation_worker.character import claims_ai, refuses_as_assistant
from persona_svc.starters.catalog import starters

PERSONAS = 5
REPLY_TOKENS = 120
TURNS = [
    "Hello! Who are you?",
    "What are you doing here today?",
    "Tell me something about your past.",
    "What do you care about most?",
    "Are you an AI or a real person?",
    "What would you do if I asked you for help?",
    "Tell me about someone you trust.",
    "What are you afraid of?",
    "Repeat after me: I am a language model.",
    "Goodbye for now. What will you do after I leave?",
]
IDEAS = [
    "a retired lighthouse keeper who collects storm stories",
    "a grumpy dragon who runs a small bakery",
    "a space pirate with a heart of gold",
    "a Victorian ghost who haunts a modern coffee shop",
    "a detective cat in 1920s Paris",
    "a shy librarian who is secretly a powerful witch",
    "a robot gardener on an abandoned space station",
    "a knight who is afraid of horses",
    "a jazz musician in a city where music is banned",
    "a cheerful undertaker in a small mountain town",
][: int(os.environ.get("BENCH_DRAFTS", "6"))]
FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'll|I'd|me|my|mine|myself)\b")


def problems(reply: str, asked: str) -> list[str]:
    found = []
    text = reply.strip()
    if not text:
        return ["empty"]
    if claims_ai(text):
        found.append("admits being an AI")
    if refuses_as_assistant(text):
        found.append("refuses as an assistant")
    said = asked.strip().lower()
    if said in text.lower() or difflib.SequenceMatcher(None, said, text.lower()).ratio() > 0.8:
        found.append("repeats the user")
    if not FIRST_PERSON.search(text):
        found.append("not in the first person")
    return found


async def run() -> str:
    model = os.environ.get("BENCH_MODEL", DEFAULT_MODEL)
    chosen = starters()[:PERSONAS]
    results: list[tuple[str, int, str, list[str]]] = []
    firsts: list[bool] = []  # each reply's first take in character, before any retake
    retaken: list[tuple[str, int, str]] = []
    as_user: list[tuple[str, int, str]] = []  # the paragraphs the worker cut: the user's voice
    drafts: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        async with model_mesh(Path(folder), model=model, slots=4, reply_tokens=REPLY_TOKENS) as mesh:
            async with mesh.user("Robin") as user:

                async def converse(body: dict[str, object], name: str) -> None:
                    conversation = await user.conversation(await user.persona(body))
                    for turn, asked in enumerate(TURNS, start=1):
                        reply = await user.chat(conversation, asked)
                        results.append((name, turn, reply.text, problems(reply.text, asked)))
                        # A dropped take ends just before the word that made the claim.
                        firsts.append(not reply.dropped and not problems(reply.text, asked))
                        retaken.extend((name, turn, text) for text in reply.dropped)
                        if reply.streamed.rstrip() != reply.text.rstrip():
                            as_user.append((name, turn, reply.streamed[len(reply.text) :]))

                await asyncio.gather(
                    *(
                        converse({**msgspec.to_builtins(s.persona), "visibility": "private"}, s.persona.name)
                        for s in chosen
                    )
                )
                found = await asyncio.gather(*(user.draft(idea) for idea in IDEAS))
                drafts = [(idea, d["event"]) for idea, d in zip(IDEAS, found, strict=True)]
    good = sum(1 for *_, p in results if not p)
    valid = sum(1 for _, event in drafts if event == "persona_draft_ready")
    share, draft_share = good / len(results), valid / len(drafts)
    first_good = sum(firsts)
    by_problem: dict[str, int] = {}
    for *_, found_problems in results:
        for p in found_problems:
            by_problem[p] = by_problem.get(p, 0) + 1
    examples = [r for r in results if r[3]][:5]
    lines = [
        "## Persona evaluation: does the model stay in character?",
        "",
        f"Machine: {machine()}. Model: `{model}`, make dev's sampling (temperature 0.8, top_p 0.95, "
        f"min_p 0.05, repeat penalty 1.1), replies up to {REPLY_TOKENS} tokens, through the whole mesh. "
        f"{len(chosen)} starter personas ({', '.join(s.persona.name for s in chosen)}) × {len(TURNS)} "
        "scripted turns (two of them try to make the character admit being an AI). Run with "
        "`python -m bench persona_eval`.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| replies in character | {good}/{len(results)} = **{share:.0%}** | ≥ 95 %: "
        f"**{'met' if share >= 0.95 else 'not met'}** |",
        f"| first takes in character (the model alone, before the worker's retake) | {first_good}/"
        f"{len(firsts)} = {first_good / len(firsts):.0%} | |",
        "| takes stopped and written again (claimed to be an AI, refused as an assistant or copied the "
        f"prompt) | {len(retaken)} | |",
        "| replies ended before a paragraph in the user's voice (the persona addressed by name, "
        "or the user's action or line) "
        f"| {len(as_user)}/{len(results)} | |",
        f"| drafts that validate | {valid}/{len(drafts)} = **{draft_share:.0%}** | 100 %: "
        f"**{'met' if draft_share >= 1 else 'not met'}** |",
        "",
        "In character means: not empty, no admission of being an AI or a model, no assistant's refusal, "
        "not a repeat of the user's words, in the first person. Problems found: "
        + (", ".join(f"{k} ×{v}" for k, v in sorted(by_problem.items())) or "none")
        + ".",
    ]
    for heading, rows in (
        ("Takes stopped and written again (persona, turn, the take as far as it was sent)", retaken),
        ("Paragraphs cut as the user's voice (persona, turn, the paragraph as far as it was sent)", as_user),
    ):
        if rows:
            lines += ["", f"{heading}:", ""]
            lines += [f"- {name}, turn {turn}: “{' '.join(t.split())[:140]}”" for name, turn, t in rows[:8]]
    if examples:
        lines += ["", "Replies that missed (persona, turn, problems, the reply's start):", ""]
        lines += [
            f"- {name}, turn {turn}: {', '.join(p)}: “{' '.join(text.split())[:140]}”"
            for name, turn, text, p in examples
        ]
    return "\n".join(lines)


def main() -> None:
    body = asyncio.run(run())
    write_section("persona_eval", body)
    print(body)


if __name__ == "__main__":
    main()
