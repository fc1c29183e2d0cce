"""Publishing events to `user:<id>` and `channel:<id>`: stored in EVENTS, relayed live.

A terminal event (a reply done, media ready, a draft ready) is published by the service that
owns the state it announces, after its commit, with `once=<job id>`: the event then carries a
JetStream message id per channel, so the publish repeated by a redelivered result (the service
stopped between its commit and its ack) is dropped by EVENTS within its duplicate window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from proto.codec import json_encoder
from proto.events import Event, event_name
from proto.subjects import channel_subject, ephemeral_subject

EVENT_HEADER = "Event"


class EventPublisher:
    def __init__(self, js: JetStreamContext, nc: NATS | None = None) -> None:
        self.js = js
        self.nc = nc

    async def publish(self, channels: Iterable[str], event: Event, *, once: str | None = None) -> list[int]:
        """Store `event` once per channel (its `channel` field set); returns the stream sequences
        (a publish dropped as a duplicate returns the sequence of the copy stored first).

        The channels are published concurrently; successive calls keep their order per channel.
        `once` (a job id) makes the publish idempotent: the same event name, key and channel are
        stored once within the EVENTS duplicate window."""
        name = event_name(event)
        acks = await asyncio.gather(
            *(
                self.js.publish(
                    channel_subject(channel),
                    json_encoder.encode(msgspec.structs.replace(event, channel=channel)),
                    headers=_headers(name, channel, once),
                )
                for channel in channels
            )
        )
        return [int(ack.seq) for ack in acks]

    async def send(self, channels: Iterable[str], event: Event) -> None:
        """Publish without waiting for the store's acknowledgement: for the many small events of a
        stream (a reply's tokens), so producing the next one never waits on a round trip. EVENTS
        still stores them (it captures the subjects); NATS keeps one connection's messages in
        order, so an acknowledged `publish` that follows is stored after every one of them."""
        if self.nc is None:
            await self.publish(channels, event)
            return
        await self._core(channel_subject, channels, event)

    async def flash(self, channels: Iterable[str], event: Event) -> None:
        """Publish on core NATS only (`ephemeral.events.…`): followers connected now get it, EVENTS
        never stores it and no replay repeats it (presence, typing)."""
        await self._core(ephemeral_subject, channels, event)

    async def _core(self, subject: Callable[[str], str], channels: Iterable[str], event: Event) -> None:
        """Publish on core NATS (no store acknowledgement), each channel's copy on `subject(channel)`."""
        assert self.nc is not None, "core publishing needs the core connection"
        name = event_name(event)
        for channel in channels:
            payload = json_encoder.encode(msgspec.structs.replace(event, channel=channel))
            await self.nc.publish(subject(channel), payload, headers={EVENT_HEADER: name})


def _headers(name: str, channel: str, once: str | None) -> dict[str, str]:
    headers = {EVENT_HEADER: name}
    if once is not None:
        headers["Nats-Msg-Id"] = f"event:{name}:{once}:{channel}"
    return headers
