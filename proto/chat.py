"""Chat generation: the job persona_svc enqueues, the result it persists, the events users see."""

from __future__ import annotations

from typing import Literal

import msgspec

from proto import subjects
from proto.events import Event
from proto.jobs import JobBase


class PromptMessage(msgspec.Struct, omit_defaults=True):
    role: Literal["system", "user", "assistant"]
    content: str
    name: str | None = None


class ChatUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatJob(JobBase, kw_only=True):
    """On `jobs.chat`: generate the reply `message_id` of `conversation_id` from an assembled prompt."""

    conversation_id: str
    message_id: str
    persona_id: str
    persona_name: str = ""
    user_name: str = ""
    messages: list[PromptMessage] = []
    max_tokens: int = 512
    temperature: float = 0.8
    # Where the worker publishes the ChatResult: a conversation's reply or a room's.
    results_subject: Literal["results.chat", "results.room"] = "results.chat"
    # The prompt's other turns start with their speaker's name (a room): models open their reply
    # the same way, so a leading `{persona_name}:` is dropped. Off in a one-to-one chat, where
    # holding the opening back to check would only delay the first words.
    speaker_labels: bool = False


class ChatResult(msgspec.Struct, kw_only=True):
    """On the job's `results_subject` (`results.chat`; `results.room` for a room's reply): what
    persona_svc persists for the reply (exactly once per job), then announces as `ai_chat_done`,
    `ai_chat_cancelled` or `ai_chat_error`."""

    job_id: str
    user_id: str
    conversation_id: str
    message_id: str
    status: Literal["done", "cancelled", "failed"]
    text: str = ""
    finish_reason: str = ""
    usage: ChatUsage = msgspec.field(default_factory=ChatUsage)
    provider: str = ""
    model: str = ""
    error: str | None = None


class AiChatStarted(Event, tag="ai_chat_started"):
    """A worker started generating the reply `message_id`. Sent on the requester's `user:<id>`
    and on `channel:<conversation_id>`. A later `ai_chat_started` for the same message restarts
    the reply, and clients clear its text: a higher `attempt` (the job was retried or redelivered)
    or, within an attempt, a higher `retake` (the reply claimed to be an AI and is being written
    again, generation_worker.character)."""

    job_id: str
    conversation_id: str
    message_id: str
    provider: str = ""
    model: str = ""
    attempt: int = 1
    retake: int = 0
    # In a room (docs/rooms.md): the persona replying and the member who asked.
    persona_id: str = ""
    asked_by: str = ""


class AiChatQueued(Event, tag="ai_chat_queued"):
    """The reply waits for the text model, whose slots are all busy: `position` replies must start
    or end before this one starts (1: it starts as soon as a slot frees; the UI shows "2 ahead").
    Sent again each time it moves up, then `ai_chat_started`. Same channels as `ai_chat_started`."""

    job_id: str
    conversation_id: str
    message_id: str
    position: int


class AiChatChunk(Event, tag="ai_chat_chunk"):
    """One token or token group of the reply, as the text provider yields it; `index` counts from 0
    within an attempt. Same channels as `ai_chat_started`."""

    job_id: str
    conversation_id: str
    message_id: str
    index: int
    delta: str


class AiChatDone(Event, tag="ai_chat_done"):
    """The reply is complete: the full `text`, why it ended, token usage. Same channels; sent by
    persona_svc once the reply is stored (a read of the conversation returns it)."""

    job_id: str
    conversation_id: str
    message_id: str
    text: str
    finish_reason: str
    usage: ChatUsage = msgspec.field(default_factory=ChatUsage)
    provider: str = ""
    model: str = ""
    persona_id: str = ""
    asked_by: str = ""


class AiChatError(Event, tag="ai_chat_error"):
    """The reply failed for good (the model refused the request, or retries ran out); `reason` is
    readable by the user. Same channels; sent by persona_svc once the failure is stored."""

    job_id: str
    conversation_id: str
    message_id: str
    reason: str
    persona_id: str = ""
    asked_by: str = ""


class AiChatCancelled(Event, tag="ai_chat_cancelled"):
    """Generation stopped on request; `text` is the partial reply kept. Same channels; sent by
    persona_svc once the partial reply is stored."""

    job_id: str
    conversation_id: str
    message_id: str
    text: str = ""
    persona_id: str = ""
    asked_by: str = ""


# What travels on each subject this module owns (listed in docs/channels.md).
MESSAGES: dict[str, type[msgspec.Struct]] = {
    subjects.JOBS_CHAT: ChatJob,
    subjects.RESULTS_CHAT: ChatResult,
    subjects.RESULTS_ROOM: ChatResult,
}

chat_job_decoder = msgspec.json.Decoder(ChatJob)


class ChatWarmup(msgspec.Struct, kw_only=True):
    """A conversation just opened, or opened again (on `control.warmup.chat`, best effort): the
    prompt its next reply will extend, so a worker can have the model read it while the person
    types."""

    conversation_id: str
    messages: list[PromptMessage]
    # As in ChatJob: the example dialogues' speakers are named from them.
    persona_name: str = ""
    user_name: str = ""


chat_warmup_decoder = msgspec.json.Decoder(ChatWarmup)
chat_result_decoder = msgspec.json.Decoder(ChatResult)
