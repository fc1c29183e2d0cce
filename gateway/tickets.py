"""Single-use SSE tickets, valid on every gateway replica.

A ticket is 256 random bits shown once to the client; the `sse_tickets` JetStream KV bucket
holds the caller's identity under the ticket's SHA-256 (so the bucket's content cannot be
replayed as tickets), with the bucket's TTL as the lifetime. Redeeming deletes the entry
with an expected-revision check, so of two gateways redeeming the same ticket at once
exactly one succeeds."""

from __future__ import annotations

import hashlib
import secrets
import time

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyNotFoundError
from nats.js.kv import KeyValue

from proto.codec import json_encoder
from proto.identity import Identity
from proto.sse import Ticket, TicketRecord, ticket_record_decoder
from proto.subjects import KV_SSE_TICKETS


def _key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketStore:
    def __init__(self, js: JetStreamContext, ttl: float) -> None:
        self.js = js
        self.ttl = ttl
        self._kv: KeyValue | None = None

    async def start(self) -> None:
        self._kv = await self.js.key_value(KV_SSE_TICKETS)

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "ticket store not started"
        return self._kv

    async def issue(self, identity: Identity) -> Ticket:
        ticket = secrets.token_urlsafe(32)
        record = TicketRecord(identity=identity, expires_at=time.time() + self.ttl)
        await self.kv.create(_key(ticket), json_encoder.encode(record))
        return Ticket(ticket=ticket, expires_in=int(self.ttl))

    async def redeem(self, ticket: str) -> Identity | None:
        """The identity the ticket was issued to, once; None when unknown, used or expired."""
        key = _key(ticket)
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        try:
            await self.kv.delete(key, last=entry.revision)
        except BadRequestError:  # another redemption won the race
            return None
        try:
            record = ticket_record_decoder.decode(entry.value or b"")
        except msgspec.DecodeError:
            return None
        # The bucket's TTL removes entries lazily; the recorded deadline is exact.
        return record.identity if record.expires_at > time.time() else None
