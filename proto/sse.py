"""Bodies of the gateway's live-events API (`/events`, `/events/tickets`); see docs/events.md."""

from __future__ import annotations

from typing import Annotated

import msgspec

from proto.identity import Identity


class Ticket(msgspec.Struct):
    """`POST /events/tickets` → 201: pass `ticket` to `GET /events?ticket=…` within `expires_in` s."""

    ticket: str
    expires_in: int


class TicketRecord(msgspec.Struct):
    """What the `sse_tickets` bucket holds under the SHA-256 of a ticket until it is redeemed."""

    identity: Identity
    expires_at: float


class EventsQuery(msgspec.Struct, kw_only=True):
    """`GET /events` query: `channels` is comma-separated (`channel:<id>`; `user:<own id>` is always
    included); `last_event_id` replaces the `Last-Event-ID` header for clients that cannot set it."""

    ticket: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    channels: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    last_event_id: Annotated[int, msgspec.Meta(ge=0)] | None = None


ticket_record_decoder = msgspec.json.Decoder(TicketRecord)
