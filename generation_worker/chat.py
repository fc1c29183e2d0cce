"""The chat job kind: stream a reply token by token to the requester and the conversation.

For each `ChatJob` on `jobs.chat`, on `user:<user_id>` and `channel:<conversation_id>`:
`ai_chat_started` → one `ai_chat_chunk` per delta the provider yields; then the `ChatResult`
(done, cancelled or failed) on `results.chat`. The worker sends no ending event: persona_svc
stores the result (idempotent by job id; JetStream drops a second publish within two minutes)
and only then announces `ai_chat_done`, `ai_chat_cancelled` or `ai_chat_error` (state before
event, docs/events.md). A retryable provider failure redelivers the job with backoff; the next
attempt starts over with a new `ai_chat_started` (`attempt` > 1). While the text model's slots
are all busy (`generation_worker.gate`), the reply waits in order and sends `ai_chat_queued`
with its position first."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

import msgspec
import structlog

from chassis.consumer import Fatal, Retry
from chassis.jobs import publish_result
from chassis.settings import Settings
from generation_worker import character
from generation_worker.gate import ModelGate
from generation_worker.kinds import JobContext, JobKind
from generation_worker.providers import offline
from generation_worker.providers.base import ProviderError, TextFinish, TextProvider, TextRequest
from generation_worker.providers.text import create_text_provider
from generation_worker.warmup import Warmups
from proto.chat import (
    AiChatChunk,
    AiChatQueued,
    AiChatStarted,
    ChatJob,
    ChatResult,
    chat_job_decoder,
)
from proto.events import Event
from proto.subjects import CONTROL_WARMUP_CHAT, JOBS_CHAT, conversation_channel, user_channel

log = structlog.get_logger("generation_worker.chat")
GAVE_UP = "the text model is unavailable right now; please try again in a moment"


def kind(settings: Settings, provider: TextProvider | None = None, gate: ModelGate | None = None) -> JobKind:
    provider = provider or create_text_provider(settings)
    # The offline provider has no model to ask again: it would write the same words (it quotes the user).
    count = 0 if provider.name == offline.NAME else settings.llm_character_retakes
    retakes = character.Retakes(count, settings.llm_retake_prefill)
    warmups = Warmups(provider, gate) if settings.llm_warmup and provider.name != offline.NAME else None

    async def close() -> None:
        if warmups is not None:
            await warmups.close()
        await provider.close()

    return JobKind(
        "chat",
        JOBS_CHAT,
        ChatHandler(provider, gate, retakes=retakes, warmups=warmups),
        settings.worker_chat_concurrency,
        close=close,
        ready=provider.check,
        overlaps_check=True,
        hint=(CONTROL_WARMUP_CHAT, warmups.on_hint) if warmups is not None else None,
    )


class ChatHandler:
    def __init__(
        self,
        provider: TextProvider,
        gate: ModelGate | None = None,
        *,
        retakes: character.Retakes | None = None,
        warmups: Warmups | None = None,
    ) -> None:
        self.provider = provider
        self.gate = gate
        self.retakes = retakes or character.Retakes()
        self.warmups = warmups

    async def __call__(self, ctx: JobContext) -> None:
        try:
            job = chat_job_decoder.decode(ctx.data)
        except msgspec.ValidationError as exc:
            raise Fatal(f"malformed chat job: {exc}") from None
        run = _Run(ctx, job, self.provider, self.gate, self.retakes, self.warmups)
        if ctx.cancelled.is_set():  # cancelled before any worker took it
            await run.cancelled()
            return
        try:
            await run.stream()
        except ProviderError as exc:
            if exc.retryable and not ctx.delivery.final_attempt:
                raise Retry(exc.reason, delay=exc.retry_after) from None
            await run.failed(exc.reason if not exc.retryable else GAVE_UP)
            if exc.retryable:
                raise  # out of attempts: the worker also dead-letters it for operators
        except Exception:  # a bug or the bus: retried; on the last attempt the user is told
            if ctx.delivery.final_attempt:
                with contextlib.suppress(Exception):
                    await run.failed(GAVE_UP)
            raise


class _Run:
    """One attempt at one reply."""

    def __init__(
        self,
        ctx: JobContext,
        job: ChatJob,
        provider: TextProvider,
        gate: ModelGate | None,
        retakes: character.Retakes,
        warmups: Warmups | None = None,
    ) -> None:
        self.ctx = ctx
        self.retakes = retakes
        self.warmups = warmups
        self.job = job
        self.provider = provider
        self.gate = gate
        self.channels = [user_channel(job.user_id), conversation_channel(job.conversation_id)]
        self.parts: list[str] = []
        # Where the reply ends when the model went on to write the user's lines (character.UserVoice).
        self.keep: int | None = None

    @property
    def ids(self) -> dict[str, str]:
        job = self.job
        return {"job_id": job.job_id, "conversation_id": job.conversation_id, "message_id": job.message_id}

    async def emit(self, event: Event) -> None:
        await self.ctx.check_passed()
        await self.ctx.events.publish(self.channels, event)

    async def stream_event(self, event: Event) -> None:
        """The start and the tokens: not waited for (the acknowledged result publish follows them
        on the same connection, so the server has them all before persona_svc hears of the end).
        The first waits for the cancel-marker check, which runs while the model reads the prompt."""
        await self.ctx.check_passed()
        await self.ctx.events.send(self.channels, event)

    async def stream(self) -> None:
        generate = asyncio.create_task(self._generate())
        stop = asyncio.create_task(self.ctx.cancelled.wait())
        try:
            await asyncio.wait((generate, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not generate.done():
                # Cancelled (or the worker is stopping): closing the provider's stream ends the
                # upstream request at once, whatever it was waiting for.
                generate.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await generate
        if generate.cancelled():
            await self.cancelled()
            return
        await self._result("done", self.text(), generate.result())

    async def _generate(self) -> TextFinish:
        if self.warmups is not None:
            # Its prompt is being read already: the reply goes on from there, not beside it.
            await self.warmups.done(self.job.conversation_id)
        if self.gate is None:
            return await self._reply()
        async with self.gate.slot(self._queued):
            return await self._reply()

    async def _queued(self, position: int) -> None:
        await self.emit(AiChatQueued(**self.ids, position=position))

    async def _reply(self) -> TextFinish:
        job = self.job
        request = TextRequest(
            job.messages,
            max_tokens=job.max_tokens,
            temperature=job.temperature,
            persona_name=job.persona_name,
            user_name=job.user_name,
        )
        retakes = self.retakes
        opening = ""
        for retake in range(retakes.count + 1):
            finish = await self._take(request, retake, opening, watch=retake < retakes.count)
            if finish is not None:
                return finish
            log.info("reply broke character; asking again", job_id=job.job_id, retake=retake + 1)
            messages = character.retake_messages(
                job.messages, job.persona_name, job.user_name, retakes.prefill
            )
            request = msgspec.structs.replace(request, messages=messages)
            opening = retakes.prefill
        raise AssertionError("the last take is never watched")

    async def _take(
        self, request: TextRequest, retake: int, opening: str, *, watch: bool
    ) -> TextFinish | None:
        """One take of the reply, starting with `opening` (a prefill the model continues); None when
        `watch`ed and it broke character (stopped at once, before the delta that broke it is sent)."""
        job, p = self.job, self.provider
        self.parts, self.keep = [], None
        watching = character.Watch(request.messages, opening) if watch else None
        voice = character.UserVoice(job.persona_name, job.user_name)
        # A prefill opens the answer itself, so what follows it is never a speaker's label.
        labelled = job.speaker_labels and not opening
        stream = character.without_own_label(
            self.provider.stream(request), job.persona_name if labelled else ""
        )
        async with contextlib.aclosing(stream):
            # The model reads the prompt while the start goes out (after the cancel-marker check).
            first = asyncio.ensure_future(anext(stream, None))
            try:
                await self.stream_event(
                    AiChatStarted(
                        **self.ids,
                        provider=p.name,
                        model=p.model,
                        attempt=self.ctx.attempt,
                        retake=retake,
                        persona_id=job.persona_id,
                        asked_by=job.user_id,
                    )
                )
                if opening:
                    voice.feed(opening)
                    await self._chunk(opening)
                item = await first
            finally:
                await _settle(first)
            while item is not None:
                if isinstance(item, TextFinish):
                    return item
                if watching and watching.breaks(item):
                    return None
                if (end := voice.feed(item)) is not None:
                    # Closing the stream stops the model; the done event's text ends before them.
                    log.info("reply went on as the user; ended before that paragraph", job_id=job.job_id)
                    self.keep = end
                    return TextFinish("stop")
                await self._chunk(item)
                item = await anext(stream, None)
        raise ProviderError("the text provider ended without finishing", retryable=True)

    def text(self) -> str:
        text = "".join(self.parts)
        return text if self.keep is None else text[: self.keep].rstrip()

    async def _chunk(self, delta: str) -> None:
        # Kept before publishing: if a cancel cuts the publish, the cancelled text
        # (authoritative for clients) still has every delta they may have seen.
        self.parts.append(delta)
        await self.stream_event(AiChatChunk(**self.ids, index=len(self.parts) - 1, delta=delta))

    async def cancelled(self) -> None:
        await self._result("cancelled", "".join(self.parts), TextFinish("cancelled"))

    async def failed(self, reason: str) -> None:
        log.warning("chat reply failed", reason=reason)
        await self._result("failed", "".join(self.parts), TextFinish(""), error=reason)

    async def _result(
        self,
        status: Literal["done", "cancelled", "failed"],
        text: str,
        finish: TextFinish,
        error: str | None = None,
    ) -> None:
        job = self.job
        result = ChatResult(
            job_id=job.job_id,
            conversation_id=job.conversation_id,
            message_id=job.message_id,
            user_id=job.user_id,
            status=status,
            text=text,
            finish_reason=finish.finish_reason,
            usage=finish.usage,
            provider=self.provider.name,
            model=self.provider.model,
            error=error,
        )
        await publish_result(self.ctx.js, self.job.results_subject, self.job.job_id, result)


async def _settle(task: asyncio.Future[Any]) -> None:
    """Stop `task` if it still runs; its outcome has been taken or no longer matters."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        await task
