"""Revocations published to the `revoked` bucket, watched by every gateway replica.

Entries expire with the bucket's TTL (access-token lifetime + a minute): after that no
token of the session can still be valid, and the store refuses to refresh it.
"""

from __future__ import annotations

import time

from nats.js.kv import KeyValue

from proto.auth import revoked_api_key_key, revoked_session_key


class Revocations:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def session(self, session_id: str) -> None:
        await self.kv.put(revoked_session_key(session_id), str(time.time()).encode())

    async def api_key(self, key_id: str) -> None:
        await self.kv.put(revoked_api_key_key(key_id), str(time.time()).encode())
