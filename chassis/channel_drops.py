"""Dropping a channel from one user's open event streams, on every gateway (the `channel_drops`
bucket, watched by each gateway the way `revoked` is): a member removed from a room stops
receiving it at once. Taking them back in deletes the entry."""

from __future__ import annotations

import contextlib

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from proto.subjects import KV_CHANNEL_DROPS, channel_drop_key


class ChannelDrops:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.js.key_value(KV_CHANNEL_DROPS)
        return self._kv

    async def drop(self, channel_id: str, user_id: str) -> None:
        await (await self._bucket()).put(channel_drop_key(channel_id, user_id), b"")

    async def restore(self, channel_id: str, user_id: str) -> None:
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            await (await self._bucket()).delete(channel_drop_key(channel_id, user_id))
