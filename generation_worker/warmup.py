"""Warming the model's prompt cache for a conversation that was just opened (`LLM_WARMUP`).

persona_svc sends the prompt a conversation's next reply will extend (`ChatWarmup`, core NATS,
best effort) when it starts and when its page opens again. While the person types, the model
reads it with a one-token request, and the reply reuses it from the server's cache: on the
embedded 1.5B model a persona prompt is 10-25 s of reading, which the reply no longer waits for.
A warm-up only takes a free slot (it never queues before a reply), and a reply for the same
conversation waits for its warm-up to finish rather than reading the same prompt beside it on
the other slot."""

from __future__ import annotations

import asyncio
import contextlib
import time

import msgspec
import structlog

from generation_worker.gate import ModelGate
from generation_worker.providers.base import ProviderError, TextProvider, TextRequest
from proto.chat import chat_warmup_decoder

log = structlog.get_logger("generation_worker.warmup")
# A reply waits at most this long for its conversation's warm-up (then reads the prompt itself).
WAIT = 60.0


class Warmups:
    def __init__(self, provider: TextProvider, gate: ModelGate | None) -> None:
        self.provider = provider
        self.gate = gate
        self.running: dict[str, asyncio.Task[None]] = {}

    async def on_hint(self, data: bytes) -> None:
        try:
            warmup = chat_warmup_decoder.decode(data)
        except msgspec.DecodeError as exc:
            log.warning("warm-up undecodable", error=str(exc))
            return
        # The slot is taken here, not in the task: a reply arriving meanwhile must not find it gone.
        if warmup.conversation_id in self.running or (self.gate is not None and not self.gate.take()):
            return
        task = asyncio.create_task(
            self._read(
                warmup.conversation_id,
                TextRequest(
                    warmup.messages,
                    max_tokens=1,
                    persona_name=warmup.persona_name,
                    user_name=warmup.user_name,
                ),
            )
        )
        self.running[warmup.conversation_id] = task
        task.add_done_callback(lambda _: self.running.pop(warmup.conversation_id, None))

    async def _read(self, conversation_id: str, request: TextRequest) -> None:
        started = time.monotonic()
        try:
            stream = self.provider.stream(request)
            async with contextlib.aclosing(stream):
                async for _ in stream:
                    pass
        except ProviderError as exc:
            log.info("warm-up failed", conversation_id=conversation_id, reason=exc.reason)
            return
        finally:
            if self.gate is not None:
                self.gate.release()
        log.info(
            "prompt read ahead", conversation_id=conversation_id, seconds=round(time.monotonic() - started, 2)
        )

    async def done(self, conversation_id: str) -> None:
        """Returns once no warm-up for the conversation runs (at most WAIT seconds)."""
        task = self.running.get(conversation_id)
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), WAIT)

    async def close(self) -> None:
        for task in list(self.running.values()):
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
