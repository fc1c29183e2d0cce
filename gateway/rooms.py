"""Room streams at the gateway (docs/rooms.md): presence, ephemeral events, and dropping a room
from a removed member's streams.

- **Ephemeral events** (`room_presence`, `room_typing`) travel on core NATS
  (`ephemeral.events.channel.<room id>`), never through EVENTS: one subscription per room with
  followers on this process relays them as frames without `id:` (nothing to replay).
- **Presence** is who has a stream following the room open. Each gateway keeps its share in
  the `presence` bucket (`<room>.<user>.<gateway>`, refreshed every PRESENCE_TTL/3 s, so a
  gateway that dies leaves no ghosts beyond PRESENCE_TTL); on every change here it reads the
  room's keys and publishes the whole list, so every member's view converges on the same set.
- **Drops**: persona_svc writes `<room>.<user>` to the `channel_drops` bucket when a member is
  removed or leaves. Every gateway watches it (as it watches `revoked` for sessions) and takes
  the room's subject out of that user's streams at once, with a last `event: channel_dropped`
  frame for the room; the rest of each stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import msgspec
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from chassis.events import EVENT_HEADER, EventPublisher
from chassis.ids import new_id
from gateway.auth import RevokedMirror
from gateway.fanout import Hub, Outbox
from proto.codec import json_encoder
from proto.identity import Identity
from proto.rooms import ChannelAccess, RoomPresence
from proto.subjects import (
    CHANNEL_DROPS_TTL,
    KV_CHANNEL_DROPS,
    KV_PRESENCE,
    PRESENCE_TTL,
    channel_drop_key,
    ephemeral_subject,
    live_subject,
    room_channel,
)

log = structlog.get_logger("gateway.rooms")
# Ephemeral frames have no sequence: this one is above every replay floor, so an outbox that is
# still replaying keeps them for when it goes live.
EPHEMERAL_SEQ = sys.maxsize


def ephemeral_frame(event: str, data: bytes) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (event.encode(), data)


class RoomStreams:
    def __init__(self) -> None:
        self.gateway_id = new_id()
        self.drops = RevokedMirror(CHANNEL_DROPS_TTL + 60.0)
        self.drops.listeners.append(self._dropped)
        # room id → {outbox: user id} of this process's streams following it.
        self.followers: dict[str, dict[Outbox, str]] = {}
        self.rooms_of: dict[Outbox, set[str]] = {}
        self._subs: dict[str, Subscription] = {}
        # The users this gateway has put in the presence bucket, per room.
        self._published: dict[str, set[str]] = {}
        # One presence update at a time per room (each reads what the one before wrote).
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._nc: NATS | None = None
        self._hub: Hub | None = None
        self._presence: KeyValue | None = None
        self._events: EventPublisher | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self, js: JetStreamContext, nc: NATS, hub: Hub) -> None:
        self._nc, self._hub = nc, hub
        self._events = EventPublisher(js, nc)
        self._presence = await js.key_value(KV_PRESENCE)
        await self.drops.start(await js.key_value(KV_CHANNEL_DROPS))
        self._refresher = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        await self.drops.stop()
        for task in list(self._tasks):
            task.cancel()
        for room_id, users in list(self._published.items()):
            for user_id in users:
                await self._forget(room_id, user_id)
        for sub in self._subs.values():
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def opened(self, identity: Identity, answers: Mapping[str, msgspec.Struct], outbox: Outbox) -> None:
        """A stream is live on the channels in `answers` (each the owner's answer to its check)."""
        for answer in answers.values():
            if not isinstance(answer, ChannelAccess) or answer.kind != "room":
                continue
            room_id = answer.channel_id
            if channel_drop_key(room_id, identity.user_id) in self.drops:
                self._drop(room_id, outbox)  # removed while this stream was opening
                continue
            followers = self.followers.setdefault(room_id, {})
            if room_id not in self._subs:
                assert self._nc is not None
                sub = await self._nc.subscribe(
                    ephemeral_subject(room_channel(room_id)), cb=self._relay(room_id)
                )
                if room_id in self._subs:  # another stream subscribed meanwhile: one is enough
                    self._spawn(sub.unsubscribe())
                else:
                    self._subs[room_id] = sub
            followers[outbox] = identity.user_id
            self.rooms_of.setdefault(outbox, set()).add(room_id)
            await self._changed(room_id)

    def closed(self, outbox: Outbox) -> None:
        for room_id in self.rooms_of.pop(outbox, set()):
            self._leave(room_id, outbox)

    def _leave(self, room_id: str, outbox: Outbox) -> None:
        followers = self.followers.get(room_id, {})
        followers.pop(outbox, None)
        if not followers:
            self.followers.pop(room_id, None)
            sub = self._subs.pop(room_id, None)
            if sub is not None:
                self._spawn(sub.unsubscribe())
        self._spawn(self._changed(room_id))

    def _drop(self, room_id: str, outbox: Outbox) -> None:
        assert self._hub is not None
        channel = room_channel(room_id)
        self._hub.leave([live_subject(channel)], outbox)
        data = json_encoder.encode({"channel": channel, "reason": "removed"})
        outbox.push(EPHEMERAL_SEQ, ephemeral_frame("channel_dropped", data))

    def _dropped(self, key: str) -> None:
        room_id, _, user_id = key.partition(".")
        for outbox, follower in list(self.followers.get(room_id, {}).items()):
            if follower == user_id:
                self._drop(room_id, outbox)
                self.rooms_of.get(outbox, set()).discard(room_id)
                self._leave(room_id, outbox)

    def _relay(self, room_id: str) -> Callable[[Msg], Awaitable[None]]:
        async def relay(msg: Msg) -> None:
            name = (msg.headers or {}).get(EVENT_HEADER, "message")
            frame = ephemeral_frame(name, msg.data)
            for outbox in list(self.followers.get(room_id, {})):
                outbox.push(EPHEMERAL_SEQ, frame)

        return relay

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Presence

    def _key(self, room_id: str, user_id: str) -> str:
        return f"{room_id}.{user_id}.{self.gateway_id}"

    async def _forget(self, room_id: str, user_id: str) -> None:
        assert self._presence is not None
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            await self._presence.delete(self._key(room_id, user_id))

    async def _changed(self, room_id: str) -> None:
        """Bring this gateway's share of the room's presence up to date, then tell the room who
        is there (the union over every gateway)."""
        assert self._presence is not None and self._events is not None
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            here = set(self.followers.get(room_id, {}).values())
            before = self._published.get(room_id, set())
            try:
                for user_id in here - before:
                    await self._presence.put(self._key(room_id, user_id), b"")
                for user_id in before - here:
                    await self._forget(room_id, user_id)
                if here:
                    self._published[room_id] = here
                else:
                    self._published.pop(room_id, None)
                own = {self._key(room_id, user_id) for user_id in here}
                users = sorted({k.split(".")[1] for k in await self._keys(f"{room_id}.>", own)})
                await self._events.flash(
                    [room_channel(room_id)], RoomPresence(room_id=room_id, user_ids=users)
                )
            except Exception:  # presence is a nicety: a stream never fails for it
                log.warning("presence not updated", room_id=room_id, exc_info=True)
            if room_id not in self.followers and room_id not in self._published:
                self._locks.pop(room_id, None)

    async def _keys(self, pattern: str, own: set[str]) -> list[str]:
        """The presence keys matching `pattern`, which include `own` (this gateway's).

        nats.py's watcher can signal "no more" before keys already on their way to it (it asks the
        server what is pending after subscribing), so it is read on until this gateway's own keys
        have come too, and with them the keys sent before them."""
        assert self._presence is not None
        watcher = await self._presence.watch(pattern, ignore_deletes=True, meta_only=True)
        keys: list[str] = []
        missing = set(own)
        try:
            while (entry := await watcher.updates(timeout=5.0)) is not None or missing:  # type: ignore[no-untyped-call]
                if entry is not None:
                    keys.append(entry.key)
                    missing.discard(entry.key)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return keys

    async def _refresh(self) -> None:
        assert self._presence is not None
        while True:
            await asyncio.sleep(PRESENCE_TTL / 3)
            for room_id, users in list(self._published.items()):
                for user_id in users:
                    with contextlib.suppress(Exception):
                        await self._presence.put(self._key(room_id, user_id), b"")
