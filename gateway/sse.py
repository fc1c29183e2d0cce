"""`/events`: live events as Server-Sent Events, with tickets and replay (docs/events.md).

`POST /events/tickets` gives a signed-in caller a 30-second single-use ticket; `GET /events`
authenticates with it (or an Authorization header or cookie; a visitor without one may follow
public channels only), checks each requested channel
with the service that owns it, subscribes live (shared per subject, `gateway.fanout`),
replays from the EVENTS stream what a reconnecting client missed after `Last-Event-ID`, then
relays live frames until the client leaves, stops reading, its session or API key is revoked
(a last `session_revoked` event says so), or the gateway stops. A user has at most
`sse_max_streams_per_user` streams open on one gateway process."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from typing import TYPE_CHECKING

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.js import api

from chassis import bus as chassis_bus
from chassis import metrics
from chassis.binding import validation_error
from chassis.calls import BusCallError, BusPayloadError
from chassis.context import request_id_var
from chassis.errors import (
    Forbidden,
    HTTPError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from chassis.events import EVENT_HEADER
from chassis.settings import Settings
from gateway.asgi import Receive, Scope, Send, header, send_bytes
from gateway.auth import GatewayAuthenticator, invalid
from gateway.fanout import Hub, Outbox, frame
from gateway.rooms import RoomStreams
from gateway.tickets import TicketStore
from proto.auth import revoked_api_key_key, revoked_session_key
from proto.codec import json_encoder
from proto.identity import Identity
from proto.rooms import ChannelAccess
from proto.sse import EventsQuery, Ticket
from proto.subjects import (
    STREAM_EVENTS,
    BadChannel,
    channel_subject,
    is_public,
    live_subject,
    parse_channel,
    user_channel,
)

if TYPE_CHECKING:
    from gateway.app import Gateway

log = structlog.get_logger("gateway.sse")

HEARTBEAT = b": heartbeat\n\n"
SESSION_REVOKED = b'event: session_revoked\ndata: {"reason":"session_revoked"}\n\n'
API_KEY_REVOKED = b'event: session_revoked\ndata: {"reason":"api_key_revoked"}\n\n'
REPLAY_BATCH = 256
# Who decides whether a caller may follow a channel of each kind (`user:` is decided here).
# Who decides whether a caller may follow a channel: the service answering a read of it.
CHANNEL_OWNERS: dict[str, tuple[str, str, type[msgspec.Struct]]] = {
    "channel": ("persona", "/channels/{id}", ChannelAccess)
}
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    # Reverse proxies (nginx) must not buffer a stream.
    (b"x-accel-buffering", b"no"),
]


class EventsPlugin:
    prefixes: tuple[str, ...] = ("/events",)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._gateway: Gateway | None = None
        self._nc: NATS | None = None
        self._hub: Hub | None = None
        self._tickets: TicketStore | None = None
        self._streams: set[asyncio.Task[object]] = set()
        self._outboxes: set[Outbox] = set()
        # Streams by the credential that opened them ("sid.<id>" for a session's token or ticket,
        # "key.<id>" for an API key: the `revoked` bucket's keys), so revoking it ends them.
        self._credentials: dict[str, set[Outbox]] = {}
        # Open (or opening) streams per user in this process, capped by sse_max_streams_per_user.
        self._per_user: dict[str, int] = {}
        self._ticker: asyncio.Task[None] | None = None
        self.rooms = RoomStreams()
        self._ending = False
        # Frames written since the ticker last added them to the `persona_sse_events` counter.
        self._written = 0

    @property
    def gateway(self) -> Gateway:
        assert self._gateway is not None, "events plugin not started"
        return self._gateway

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "events plugin not started"
        return self._hub

    @property
    def tickets(self) -> TicketStore:
        assert self._tickets is not None, "events plugin not started"
        return self._tickets

    async def start(self, gateway: Gateway) -> None:
        self._gateway = gateway
        # Its own connection: live traffic never queues behind API requests, and a reconnect
        # (during which live messages may have been missed) ends every stream so clients
        # resume from Last-Event-ID.
        self._nc = await chassis_bus.connect(self.settings, "gateway-sse", on_reconnected=self._reconnected)
        self._hub = Hub(self._nc)
        await self._hub.start()
        self._tickets = TicketStore(gateway.js, self.settings.sse_ticket_ttl)
        await self._tickets.start()
        self._ticker = asyncio.create_task(self._heartbeats())
        await self.rooms.start(gateway.js, self._nc, self._hub)
        if isinstance(gateway.auth, GatewayAuthenticator):
            gateway.auth.session_listeners.append(self._session_revoked)
            gateway.auth.api_key_listeners.append(self._api_key_revoked)
        _document(gateway)

    def end_streams(self) -> None:
        """End every open stream cleanly, and any opened from now on (the gateway is stopping;
        gateway/servers.py): an EventSource reconnecting on a kept-alive connection would
        otherwise hold the server's graceful shutdown open."""
        self._ending = True
        for outbox in self._outboxes:
            outbox.close("shutdown")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.end_streams()
        if self._streams:
            await asyncio.wait(self._streams, timeout=5.0)
        # After the streams: each one's end tells the rooms it left.
        await self.rooms.stop()
        self._count_written()
        if self._hub is not None:
            with contextlib.suppress(Exception):
                await self._hub.stop()
        if self._nc is not None:
            await self._nc.close()

    async def _reconnected(self) -> None:
        for outbox in self._outboxes:
            outbox.close("reconnect")

    def _session_revoked(self, session_id: str) -> None:
        for outbox in self._credentials.get(revoked_session_key(session_id), ()):
            outbox.close("revoked")

    def _api_key_revoked(self, key_id: str) -> None:
        for outbox in self._credentials.get(revoked_api_key_key(key_id), ()):
            outbox.close("key_revoked")

    def _revoked(self, identity: Identity) -> bool:
        auth = self.gateway.auth
        if not isinstance(auth, GatewayAuthenticator):
            return False
        if identity.session_id is not None and auth.session_revoked(identity.session_id):
            return True
        return identity.api_key_id is not None and auth.api_key_revoked(identity.api_key_id)

    async def _heartbeats(self) -> None:
        interval = self.settings.sse_heartbeat
        # Checked three times per interval: a silent stream gets a comment within 5/3 of it (a
        # write is noticed by the next check, not timed: reading the clock per write costs more).
        while True:
            await asyncio.sleep(interval / 3)
            now = time.monotonic()
            for outbox in self._outboxes:
                outbox.tick(now, interval)
            self._count_written()

    def _count_written(self) -> None:
        written, self._written = self._written, 0
        metrics.sse_events.inc(written)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/events/tickets":
            if method != "POST":
                raise MethodNotAllowed("use POST /events/tickets", headers={"allow": "POST"})
            await self._issue_ticket(scope, send)
        elif path == "/events":
            if method != "GET":
                raise MethodNotAllowed("use GET /events", headers={"allow": "GET"})
            await self._stream(scope, receive, send)
        else:
            raise NotFound(f"no route for {method} {path}")

    async def _issue_ticket(self, scope: Scope, send: Send) -> None:
        identity = await self.gateway.auth.identify(scope)
        if identity is None:
            raise Unauthorized("sign in first: a ticket is issued to a signed-in caller")
        ticket = await self.tickets.issue(identity)
        rid = request_id_var.get()
        body = json_encoder.encode({"data": ticket, "meta": {"request_id": rid}})
        await send_bytes(send, 201, body, [(b"x-request-id", rid.encode()), (b"cache-control", b"no-store")])

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Everything that can be checked without the caller first: a malformed request must not
        # use up its ticket.
        query = _query(scope)
        requested = _channels(query.channels, self.settings.sse_max_channels)
        last_id = _last_event_id(scope, query)
        # A visitor (no credential at all) may follow public channels, and nothing else; a wrong
        # credential is still refused, never quietly served as a visitor.
        public_only = bool(requested) and all(is_public(c) for c in requested)
        if public_only and query.ticket is None:
            identity = await self.gateway.auth.identify(scope)
        else:
            identity = await self._identify(scope, query)
        if identity is not None and self._revoked(identity):  # a ticket issued just before a sign-out
            if identity.session_id is None:
                raise invalid("the API key was revoked", code="invalid_api_key")
            raise invalid("this session was signed out; sign in again", code="session_revoked")
        channels = requested
        if identity is not None:
            # Taken before the first await below, so concurrent requests cannot all slip under it.
            self._take_slot(identity.user_id)
            own = user_channel(identity.user_id)
            channels = [own, *(c for c in requested if c != own)]
            try:
                answers = await self._authorize(channels, identity)
            except BaseException:
                self._free_slot(identity.user_id)
                raise
        outbox = Outbox(self.settings.sse_queue_size, replaying=last_id is not None)
        subjects = [live_subject(c) for c in channels]
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        self._outboxes.add(outbox)
        if self._ending:
            outbox.close("shutdown")
        credential = _credential(identity) if identity is not None else None
        if identity is not None and credential is not None:
            self._credentials.setdefault(credential, set()).add(outbox)
            if self._revoked(identity):  # Revoked while the channels were being checked.
                outbox.close("revoked" if identity.session_id is not None else "key_revoked")
        metrics.sse_connections.inc()
        metrics.sse_tasks.inc()
        watcher: asyncio.Task[None] | None = None
        try:
            await self.hub.join(subjects, outbox)
            if identity is not None:
                await self.rooms.opened(identity, answers, outbox)
            try:
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                hello = b"retry: %d\n: connected\n\n" % self.settings.sse_retry_ms
                await _write(outbox, send, hello)
                watcher = asyncio.create_task(_watch(receive, outbox))
                metrics.sse_tasks.inc()
                if last_id is not None:
                    outbox.go_live(await self._replay(outbox, send, channels, last_id))
                await self._pump(outbox, send)
            except asyncio.CancelledError:
                # Cut off while blocked writing to a client that stopped reading: end the
                # response here; anything else (shutdown) keeps cancelling.
                if outbox.reason != "slow" or task.uncancel() > 0:
                    raise
                log.info("slow SSE client disconnected", user_id=identity.user_id if identity else None)
        finally:
            if watcher is not None:
                watcher.cancel()
                metrics.sse_tasks.dec()
            self.hub.leave(subjects, outbox)
            self.rooms.closed(outbox)
            metrics.sse_connections.dec()
            metrics.sse_tasks.dec()
            self._streams.discard(task)
            self._outboxes.discard(outbox)
            if identity is not None:
                self._free_slot(identity.user_id)
            if credential is not None:
                outboxes = self._credentials.get(credential, set())
                outboxes.discard(outbox)
                if not outboxes:
                    self._credentials.pop(credential, None)

    def _take_slot(self, user_id: str) -> None:
        limit = self.settings.sse_max_streams_per_user
        open_now = self._per_user.get(user_id, 0)
        if open_now >= limit:
            raise TooManyRequests(
                f"too many event streams: you have {open_now} open (at most {limit}); "
                "close one (a tab or a client) before opening another",
                code="too_many_streams",
                details={"limit": limit, "open": open_now},
            )
        self._per_user[user_id] = open_now + 1

    def _free_slot(self, user_id: str) -> None:
        left = self._per_user.get(user_id, 0) - 1
        if left > 0:
            self._per_user[user_id] = left
        else:
            self._per_user.pop(user_id, None)

    async def _identify(self, scope: Scope, query: EventsQuery) -> Identity:
        if query.ticket is not None:
            identity = await self.tickets.redeem(query.ticket)
            if identity is None:
                raise Unauthorized("the ticket is unknown, expired or already used; request a new one")
            return identity
        identity = await self.gateway.auth.identify(scope)
        if identity is None:
            raise Unauthorized(
                "sign in first: pass ?ticket= from POST /events/tickets, or an Authorization header"
            )
        return identity

    async def _authorize(self, channels: list[str], identity: Identity) -> dict[str, msgspec.Struct]:
        """Each `channel:` channel's owner answer (what it is), once all are allowed."""

        async def check(channel: str) -> tuple[str, msgspec.Struct | None]:
            kind, ident = parse_channel(channel)
            if kind == "public":
                return channel, None  # checked to be a known public channel when the request was read
            if kind == "user":
                if ident != identity.user_id:
                    raise Forbidden(
                        f"{channel} is another user's channel",
                        details={"field": "channels", "channel": channel},
                    )
                return channel, None
            service, path, answer = CHANNEL_OWNERS[kind]
            unavailable = ServiceUnavailable(
                f"cannot check access to {channel} right now; retry shortly",
                details={"channel": channel, "service": service},
            )
            try:
                return channel, await self.gateway.bus.fetch(
                    service, "GET", path.format(id=ident), answer, identity=identity
                )
            except HTTPError as exc:  # no replica (503) or no answer (504)
                raise unavailable from exc
            except BusCallError as exc:
                if exc.status >= 500:
                    raise unavailable from None
                raise Forbidden(
                    f"not allowed to follow {channel}", details={"field": "channels", "channel": channel}
                ) from None
            except BusPayloadError:
                raise unavailable from None

        return {c: a for c, a in await asyncio.gather(*(check(c) for c in channels)) if a is not None}

    async def _replay(self, outbox: Outbox, send: Send, channels: list[str], last_id: int) -> int:
        """Write the stored events after `last_id` on `channels`; returns the last sequence written."""
        js = self.gateway.js
        state = (await js.stream_info(STREAM_EVENTS)).state
        if last_id > state.last_seq:
            # An id this stream never issued (the stream was recreated): start afresh.
            await _write(outbox, send, _resync("unknown_last_event_id"))
            return 0
        start = last_id + 1
        if start < state.first_seq:
            await _write(outbox, send, _resync("expired"))
            start = state.first_seq
        sub = await js.pull_subscribe(
            "",
            durable=None,
            stream=STREAM_EVENTS,
            config=api.ConsumerConfig(
                filter_subjects=[channel_subject(c) for c in channels],
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
                ack_policy=api.AckPolicy.NONE,
                inactive_threshold=30.0,
                mem_storage=True,
                num_replicas=1,
            ),
        )
        last = last_id
        consumer = ""
        try:
            info = await sub.consumer_info()
            consumer = info.name
            pending = info.num_pending or 0
            while pending > 0 and not outbox.closed:
                msgs = await sub.fetch(min(pending, REPLAY_BATCH), timeout=5.0)
                frames = []
                for msg in msgs:
                    last = int(msg.metadata.sequence.stream)
                    name = (msg.headers or {}).get(EVENT_HEADER, "message")
                    frames.append(frame(last, name, msg.data))
                pending = int(msgs[-1].metadata.num_pending or 0)
                await _write(outbox, send, b"".join(frames))
                metrics.sse_events.inc(len(frames))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            if consumer:
                with contextlib.suppress(Exception):
                    await js.delete_consumer(STREAM_EVENTS, consumer)
        return last

    async def _pump(self, outbox: Outbox, send: Send) -> None:
        # Once per delivery, so kept lean: every frame queued since the last turn goes out in one
        # write, and the events counter is updated by the ticker, not per write.
        while True:
            if not (outbox.frames or outbox.closed or outbox.heartbeat_due):
                await outbox.wait()
            if outbox.closed:
                break
            outbox.heartbeat_due = False
            frames = outbox.take()
            if not frames:
                await _write(outbox, send, HEARTBEAT)
                continue
            await _write(outbox, send, frames[0] if len(frames) == 1 else b"".join(frames))
            self._written += len(frames)
        if outbox.reason == "revoked":
            # The last word: the client signs out instead of reconnecting.
            await _write(outbox, send, SESSION_REVOKED)
        elif outbox.reason == "key_revoked":
            await _write(outbox, send, API_KEY_REVOKED)
        if outbox.reason in ("shutdown", "reconnect", "revoked", "key_revoked"):
            # A clean end: the client reconnects with Last-Event-ID (EventSource does so itself),
            # unless its session was revoked.
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _credential(identity: Identity) -> str | None:
    """The `revoked` bucket's key that would end this identity's streams."""
    if identity.session_id is not None:
        return revoked_session_key(identity.session_id)
    if identity.api_key_id is not None:
        return revoked_api_key_key(identity.api_key_id)
    return None


async def _write(outbox: Outbox, send: Send, data: bytes) -> None:
    outbox.sending = True
    try:
        await send({"type": "http.response.body", "body": data, "more_body": True})
    finally:
        outbox.sending = False
        outbox.wrote = True


async def _watch(receive: Receive, outbox: Outbox) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            outbox.close("disconnect")
            return


def _resync(reason: str) -> bytes:
    return b"event: resync\ndata: %s\n\n" % json_encoder.encode({"reason": reason})


def _query(scope: Scope) -> EventsQuery:
    raw = urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    fields: dict[str, str] = {}
    for name, value in raw:
        fields[name] = f"{fields[name]},{value}" if name == "channels" and name in fields else value
    try:
        return msgspec.convert(fields, EventsQuery, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None


def _channels(raw: str, limit: int) -> list[str]:
    """The channels asked for (the caller's own `user:` channel is added by the caller)."""
    channels: list[str] = []
    for name in (c.strip() for c in raw.split(",")):
        if not name or name in channels:
            continue
        try:
            kind, _ = parse_channel(name)
        except BadChannel:
            raise UnprocessableEntity(
                f"{name!r} is not a channel: use channel:<conversation_id>, user:<your id> "
                "or public:community",
                field="channels",
            ) from None
        if kind == "public" and not is_public(name):
            raise UnprocessableEntity(
                f"{name!r} is not a public channel: use public:community", field="channels"
            )
        channels.append(name)
    if len(channels) + 1 > limit:
        raise UnprocessableEntity(f"at most {limit} channels per stream (yours included)", field="channels")
    return channels


def _last_event_id(scope: Scope, query: EventsQuery) -> int | None:
    value = header(scope, b"last-event-id")
    if value is None or not value.strip():
        return query.last_event_id
    if not value.strip().isdigit():
        raise UnprocessableEntity("Last-Event-ID must be an event id (a number)", field="last_event_id")
    return int(value)


def _document(gateway: Gateway) -> None:
    spec = gateway.spec
    spec.add(
        "post",
        "/events/tickets",
        "A single-use ticket for GET /events (valid 30 s)",
        response=Ticket,
        status=201,
        auth=True,
        errors=(401,),
        tags=("events",),
    )
    spec.add(
        "get",
        "/events",
        "Live events as Server-Sent Events (see docs/events.md); visitors may follow public channels",
        query=EventsQuery,
        auth=True,
        errors=(401, 403, 422, 429, 503),
        tags=("events",),
        response_type="text/event-stream",
    )
