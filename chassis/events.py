"""Publishing events to `user:<id>` and `channel:<id>`: stored in EVENTS, relayed live."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import msgspec
from nats.js import JetStreamContext

from proto.codec import json_encoder
from proto.events import Event, event_name
from proto.subjects import channel_subject

EVENT_HEADER = "Event"


class EventPublisher:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def publish(self, channels: Iterable[str], event: Event) -> list[int]:
        """Store `event` once per channel (its `channel` field set); returns the stream sequences.

        The channels are published concurrently; successive calls keep their order per channel."""
        name = event_name(event)
        acks = await asyncio.gather(
            *(
                self.js.publish(
                    channel_subject(channel),
                    json_encoder.encode(msgspec.structs.replace(event, channel=channel)),
                    headers={EVENT_HEADER: name},
                )
                for channel in channels
            )
        )
        return [int(ack.seq) for ack in acks]
