"""Conversations: the greeting, chat turns handed to the worker, swipes, cancellation, and
persisting each job's reply exactly once.

A turn stores the user's message and a pending reply in one transaction (refused while
another reply is pending), assembles the prompt and publishes a `ChatJob`; the worker
streams `ai_chat_started`/`ai_chat_chunk` and publishes a `ChatResult`, which `results.py`
hands to `on_result`. A generation's status leaves `pending` once, so a result delivered twice
writes one message; the ending event (`ai_chat_done`, `ai_chat_cancelled`, `ai_chat_error`) is
published here, after the commit, once per job (docs/events.md). Only the conversation's owner
sees it: everyone else gets 404.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from chassis.clock import utcnow
from chassis.context import request_id_var
from chassis.errors import Conflict, NotFound, UnprocessableEntity
from chassis.events import EventPublisher
from chassis.ids import new_id
from chassis.jobs import hint, request_cancel, submit
from chassis.settings import Settings
from persona_svc import pagination, prompt
from persona_svc.media import thumbnail
from persona_svc.pagination import ActivityKey, SeqKey
from persona_svc.profiles import Profiles
from persona_svc.service import PersonaService, can_read, next_cursor
from persona_svc.store import BadSwipe, Busy, Generation, MessageBusy, NotRegenerable, Store, Typed
from proto.chat import (
    AiChatCancelled,
    AiChatDone,
    AiChatError,
    ChatJob,
    ChatResult,
    ChatWarmup,
    PromptMessage,
)
from proto.conversations import (
    CancelAccepted,
    ChatTurn,
    Conversation,
    ConversationListQuery,
    ConversationPatch,
    ConversationStarted,
    Message,
    MessagePatch,
    UserPersona,
)
from proto.events import Event
from proto.identity import Identity
from proto.jobs import DeadLetter
from proto.personas import DraftResult, PageQuery, Persona, draft_job_decoder
from proto.subjects import (
    CONTROL_WARMUP_CHAT,
    JOBS_CHAT,
    JOBS_PERSONA_DRAFT,
    conversation_channel,
    user_channel,
)

log = structlog.get_logger("persona_svc.chat")
# Messages read for a prompt; the token budget trims them further.
HISTORY_LIMIT = 200
DEFAULT_USER_NAME = "User"
_chat_job_base = msgspec.json.Decoder(ChatJob)


class ChatService:
    def __init__(
        self,
        store: Store,
        personas: PersonaService,
        settings: Settings,
        nc: NATS,
        js: JetStreamContext,
        profiles: Profiles,
    ) -> None:
        self.store = store
        self.personas = personas
        self.settings = settings
        self.nc = nc
        self.js = js
        self.profiles = profiles
        self.events = EventPublisher(js)
        self.budget = prompt.Budget(
            total=settings.persona_prompt_token_budget,
            reply=settings.persona_reply_max_tokens,
            scan_depth=settings.persona_lorebook_scan_depth,
            lorebook=settings.persona_lorebook_token_budget,
        )

    async def mine(self, conversation_id: str, identity: Identity) -> Conversation:
        c = await self.store.get_conversation(conversation_id)
        if c is None or c.user_id != identity.user_id:
            raise NotFound("no such conversation", details={"conversation_id": conversation_id})
        return c

    async def with_avatars(self, conversations: list[Conversation], identity: Identity) -> list[Conversation]:
        """Each conversation's persona avatar (its thumbnail), one media lookup for the page."""
        media = await self.personas.media.lookup(
            identity, [c.persona_avatar_media_id for c in conversations if c.persona_avatar_media_id]
        )
        return [
            msgspec.structs.replace(c, persona_avatar_url=thumbnail(media, c.persona_avatar_media_id))
            for c in conversations
        ]

    async def view(self, conversation_id: str, identity: Identity) -> Conversation:
        return (await self.with_avatars([await self.mine(conversation_id, identity)], identity))[0]

    # Who the user plays

    async def user_persona(self, identity: Identity) -> UserPersona | None:
        return await self.store.get_user_persona(identity.user_id)

    async def set_user_persona(self, identity: Identity, persona: UserPersona | None) -> UserPersona | None:
        if persona is not None and not persona.name.strip():
            raise UnprocessableEntity("the name is blank", field="name")
        await self.store.set_user_persona(identity.user_id, persona)
        return persona

    async def playing(self, identity: Identity, c: Conversation | None = None) -> UserPersona:
        """Who the user plays in `c`: its own user persona, else the account's, else their
        display name with no description."""
        if c is not None and c.user_persona is not None:
            return c.user_persona
        mine = await self.store.get_user_persona(identity.user_id)
        if mine is not None:
            return mine
        return UserPersona(name=await self.profiles.name(identity.user_id, identity, DEFAULT_USER_NAME))

    async def start(self, identity: Identity, persona_id: str) -> ConversationStarted:
        p = await self.personas.readable(persona_id, identity)
        playing = await self.playing(identity)
        user = playing.name
        char = prompt.char_name(p)
        now = utcnow()
        conversation = Conversation(
            id=new_id(),
            user_id=identity.user_id,
            persona_id=p.id,
            persona_name=p.name,
            persona_avatar_media_id=p.avatar_media_id,
            created_at=now,
            last_activity_at=now,
        )
        # The greeting and the alternate greetings (as swipes), with {{char}}/{{user}} filled in.
        swipes = [prompt.substitute(g, char, user) for g in [p.greeting, *p.alternate_greetings] if g.strip()]
        greeting = None
        if swipes:
            greeting = Message(
                id=new_id(),
                conversation_id=conversation.id,
                seq=1,
                role="assistant",
                content=swipes[0],
                swipes=swipes,
                created_at=now,
                updated_at=now,
            )
        await self.store.create_conversation(conversation, greeting)
        await self._read_ahead(conversation.id, p, playing, [greeting] if greeting else [])
        await self.personas.counts_changed(p.id)
        started = await self.view(conversation.id, identity)
        return ConversationStarted(conversation=started, messages=[greeting] if greeting else [])

    async def warm_up(self, identity: Identity, conversation_id: str) -> None:
        """The chat was opened: its next reply's prompt may be read by the model meanwhile (after
        a restart the server's cache is empty, and the whole history would be read at the send)."""
        c = await self.mine(conversation_id, identity)
        if c.pending_job_id is not None:
            return  # the reply being written reads it, and leaves it cached
        p = await self._persona_for(c, identity)
        await self._read_ahead(
            c.id, p, await self.playing(identity, c), await self.store.history(c.id, HISTORY_LIMIT)
        )

    def _prompt(self, p: Persona, user: UserPersona, history: list[Message]) -> list[PromptMessage]:
        """A reply's prompt; a read-ahead builds the next one the same way, so it is its prefix."""
        return prompt.build(p, user.name, history, self.budget, user.description)

    async def _read_ahead(
        self, conversation_id: str, p: Persona, user: UserPersona, history: list[Message]
    ) -> None:
        """Hint the next reply's prompt, minus the message not typed yet: a worker may have the
        model read it while the person types (LLM_WARMUP); nobody waits for it."""
        await hint(
            self.nc,
            CONTROL_WARMUP_CHAT,
            ChatWarmup(
                conversation_id=conversation_id,
                messages=self._prompt(p, user, history),
                persona_name=prompt.char_name(p),
                user_name=user.name,
            ),
        )

    async def listing(
        self, identity: Identity, query: ConversationListQuery
    ) -> tuple[list[Conversation], str | None]:
        after = pagination.decode(query.cursor, ActivityKey)
        rows = await self.store.list_conversations(identity.user_id, query.limit + 1, after, query.persona_id)
        page = await self.with_avatars([c for c, _ in rows[: query.limit]], identity)
        return page, next_cursor(rows, query.limit)

    async def update(
        self, identity: Identity, conversation_id: str, patch: ConversationPatch
    ) -> Conversation:
        """Rename (a blank title is refused; null clears it) and/or set this chat's user persona."""
        title = patch.title
        if isinstance(title, str):
            title = title.strip()
            if not title:
                raise UnprocessableEntity("the title is blank", field="title")
        if isinstance(patch.user_persona, UserPersona) and not patch.user_persona.name.strip():
            raise UnprocessableEntity("the name is blank", field="user_persona.name")
        before = await self.mine(conversation_id, identity)
        await self.store.update_conversation(conversation_id, title, patch.user_persona)
        after = await self.mine(conversation_id, identity)
        if not isinstance(patch.user_persona, msgspec.UnsetType):
            await self._readdress_greeting(after, identity, (await self.playing(identity, before)).name)
        return await self.view(conversation_id, identity)

    async def _readdress_greeting(self, c: Conversation, identity: Identity, old_name: str) -> None:
        """The greeting named the user when the chat began; after a change of user persona, each
        of its swipes still as written then is written again with the new name (edited ones stay)."""
        new_name = (await self.playing(identity, c)).name
        p = await self.store.get_persona(c.persona_id)
        first = await self.store.history(c.id, 1, before_seq=2)
        if new_name == old_name or p is None or not first or first[0].role != "assistant" or first[0].job_id:
            return
        greeting = first[0]
        char = prompt.char_name(p)
        raw = [g for g in [p.greeting, *p.alternate_greetings] if g.strip()]
        for i, (shown, source) in enumerate(zip(greeting.swipes, raw, strict=False)):
            text = prompt.substitute(source, char, new_name)
            if shown == prompt.substitute(source, char, old_name) and shown != text:
                await self.store.edit_message(c.id, greeting.id, None, i)
                await self.store.edit_message(c.id, greeting.id, text, None)
        await self.store.edit_message(c.id, greeting.id, None, greeting.swipe_index)

    async def delete(self, identity: Identity, conversation_id: str) -> None:
        await self.mine(conversation_id, identity)
        await self.store.delete_conversation(conversation_id)

    async def messages(
        self, identity: Identity, conversation_id: str, query: PageQuery
    ) -> tuple[list[Message], str | None]:
        await self.mine(conversation_id, identity)
        rows = await self.store.list_messages(
            conversation_id, query.limit + 1, pagination.decode(query.cursor, SeqKey)
        )
        return [m for m, _ in rows[: query.limit]], next_cursor(rows, query.limit)

    # Turns

    async def _persona_for(self, c: Conversation, identity: Identity) -> Persona:
        p = await self.store.get_persona(c.persona_id)
        if p is None or not can_read(p, identity):
            raise Conflict("this persona is no longer available", details={"persona_id": c.persona_id})
        return p

    async def _enqueue(
        self,
        c: Conversation,
        p: Persona,
        identity: Identity,
        job_id: str,
        reply_id: str,
        history: list[Message],
        user: UserPersona,
    ) -> None:
        job = ChatJob(
            job_id=job_id,
            user_id=identity.user_id,
            request_id=request_id_var.get(),
            conversation_id=c.id,
            message_id=reply_id,
            persona_id=p.id,
            persona_name=prompt.char_name(p),
            user_name=user.name,
            messages=self._prompt(p, user, history),
            max_tokens=self.settings.persona_reply_max_tokens,
            temperature=self.settings.persona_chat_temperature,
        )
        await submit(
            self.js,
            JOBS_CHAT,
            job_id,
            job,
            mark_failed=lambda: self.store.finish_generation(job_id, "failed", "", "could not queue the job"),
        )

    def _busy(self, c: Conversation) -> Conflict:
        return Conflict(
            "a reply is still being written: wait for it or cancel it",
            details={"conversation_id": c.id, "job_id": c.pending_job_id},
        )

    async def send(self, identity: Identity, conversation_id: str, content: str) -> ChatTurn:
        c = await self.mine(conversation_id, identity)
        if c.pending_job_id is not None:
            raise self._busy(c)
        if not content.strip():
            raise UnprocessableEntity("the message is empty", field="content")
        p = await self._persona_for(c, identity)
        user = await self.playing(identity, c)
        job_id, message_id, reply_id = new_id(), new_id(), new_id()
        history = await self.store.history(c.id, HISTORY_LIMIT)
        now = utcnow()
        typed = Message(
            id=message_id,
            conversation_id=c.id,
            seq=0,
            role="user",
            content=content,
            created_at=now,
            updated_at=now,
        )
        generation = Generation(
            job_id=job_id,
            conversation_id=c.id,
            message_id=reply_id,
            user_id=identity.user_id,
            swipe_index=0,
            created_at=now,
        )
        try:
            await self.store.start_reply(c.id, generation, Typed(message_id, content))
        except Busy:
            raise self._busy(await self.mine(conversation_id, identity)) from None
        await self._enqueue(c, p, identity, job_id, reply_id, [*history, typed], user)
        return ChatTurn(job_id=job_id, message_id=message_id, reply_message_id=reply_id)

    async def regenerate(self, identity: Identity, conversation_id: str) -> ChatTurn:
        """A new reply for the latest message: another swipe of a generated reply, or a first
        reply when the latest message is the user's (its reply was deleted)."""
        c = await self.mine(conversation_id, identity)
        if c.pending_job_id is not None:
            raise self._busy(c)
        p = await self._persona_for(c, identity)
        user = await self.playing(identity, c)
        latest = await self.store.history(c.id, 1)
        if not latest or (latest[0].role == "assistant" and latest[0].job_id is None):
            raise Conflict("nothing to regenerate: send a message first")
        last = latest[0]
        job_id = new_id()
        generation = Generation(
            job_id=job_id,
            conversation_id=c.id,
            message_id=last.id if last.role == "assistant" else new_id(),
            user_id=identity.user_id,
            swipe_index=0,
            created_at=utcnow(),
        )
        try:
            if last.role == "assistant":
                history = await self.store.history(c.id, HISTORY_LIMIT, before_seq=last.seq)
                await self.store.start_regenerate(c.id, generation)
            else:
                history = await self.store.history(c.id, HISTORY_LIMIT)
                await self.store.start_reply(c.id, generation, None)
        except Busy:
            raise self._busy(await self.mine(conversation_id, identity)) from None
        except NotRegenerable:
            raise Conflict("the conversation changed meanwhile; try again") from None
        await self._enqueue(c, p, identity, job_id, generation.message_id, history, user)
        return ChatTurn(job_id=job_id, message_id=None, reply_message_id=generation.message_id)

    async def edit(
        self, identity: Identity, conversation_id: str, message_id: str, patch: MessagePatch
    ) -> Message:
        await self.mine(conversation_id, identity)
        content = None if patch.content is msgspec.UNSET else patch.content
        index = None if patch.swipe_index is msgspec.UNSET else patch.swipe_index
        try:
            m = await self.store.edit_message(conversation_id, message_id, content, index)
        except MessageBusy:
            raise Conflict("this reply is still being written") from None
        except BadSwipe:
            raise UnprocessableEntity("no such swipe on this message", field="swipe_index") from None
        if m is None:
            raise NotFound("no such message", details={"message_id": message_id})
        return m

    async def delete_message(
        self, identity: Identity, conversation_id: str, message_id: str, with_reply: bool = False
    ) -> None:
        await self.mine(conversation_id, identity)
        try:
            found = await self.store.delete_message(conversation_id, message_id, with_reply)
        except MessageBusy:
            raise Conflict("this reply is still being written: cancel it first") from None
        if not found:
            raise NotFound("no such message", details={"message_id": message_id})

    async def cancel(self, identity: Identity, conversation_id: str, job_id: str) -> CancelAccepted:
        """Ask the worker to stop (it publishes the partial text as a cancelled result); when no
        worker holds the job, cancel it here: any later result for it is ignored."""
        await self.mine(conversation_id, identity)
        g = await self.store.get_generation(job_id)
        if g is None or g.conversation_id != conversation_id:
            raise NotFound("no such generation", details={"job_id": job_id})
        if g.status != "pending":
            raise Conflict(f"this generation is already {g.status}", details={"job_id": job_id})
        if await request_cancel(self.nc, self.js, job_id, timeout=self.settings.persona_cancel_timeout):
            return CancelAccepted(job_id=job_id, stopping=True)
        # No worker runs it: the reply ends here; a worker taking the job later sees the marker.
        if await self.store.finish_generation(job_id, "cancelled", "", None) is not None:
            await self._announce(g, AiChatCancelled(**_ids(g), text=""))
        return CancelAccepted(job_id=job_id, stopping=False)

    # Results

    async def on_result(self, result: ChatResult) -> None:
        """Store the reply, then announce it. A redelivered result (this service stopped between
        its commit and its ack) finds it stored and announces again; EVENTS keeps one copy."""
        m = await self.store.finish_generation(result.job_id, result.status, result.text, result.error)
        g = await self.store.get_generation(result.job_id)
        if g is None or g.status != result.status:
            # Unknown (deleted), or ended another way here (cancelled with no worker, dead
            # letter): whoever stored that outcome announced it.
            log.info("chat result ignored (unknown or ended otherwise)", job_id=result.job_id)
            return
        if m is not None:
            log.info("chat reply stored", job_id=result.job_id, message_id=m.id, status=result.status)
        await self._announce(g, _ending(g, result))

    async def _announce(self, g: Generation, event: Event) -> None:
        channels = [user_channel(g.user_id), conversation_channel(g.conversation_id)]
        await self.events.publish(channels, event, once=g.job_id)

    async def on_dead_letter(self, letter: DeadLetter) -> None:
        """A job that failed its last attempt: its reply or draft is marked failed."""
        status: Literal["failed"] = "failed"
        if letter.subject == JOBS_CHAT:
            try:
                job_id = _chat_job_base.decode(letter.payload).job_id
            except msgspec.ValidationError:
                job_id = letter.job_id
            if await self.store.finish_generation(job_id, status, "", letter.reason) is not None:
                g = await self.store.get_generation(job_id)
                if g is not None:
                    await self._announce(g, AiChatError(**_ids(g), reason=letter.reason))
        elif letter.subject == JOBS_PERSONA_DRAFT:
            try:
                job = draft_job_decoder.decode(letter.payload)
                user_id = job.user_id
            except msgspec.ValidationError:
                user_id = ""
            await self.personas.on_draft_result(
                DraftResult(job_id=letter.job_id, user_id=user_id, status=status, error=letter.reason)
            )


def _ids(g: Generation) -> dict[str, str]:
    return {"job_id": g.job_id, "conversation_id": g.conversation_id, "message_id": g.message_id}


def _ending(g: Generation, result: ChatResult) -> Event:
    """The event announcing a stored result; each carries what a client needs to show it."""
    if result.status == "done":
        return AiChatDone(
            **_ids(g),
            text=result.text,
            finish_reason=result.finish_reason,
            usage=result.usage,
            provider=result.provider,
            model=result.model,
        )
    if result.status == "cancelled":
        return AiChatCancelled(**_ids(g), text=result.text)
    return AiChatError(**_ids(g), reason=result.error or "the reply failed")
