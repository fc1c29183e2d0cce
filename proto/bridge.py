"""The ASGI-over-NATS envelope: one request message to `http.<service>`, one reply."""

from __future__ import annotations

import msgspec

from proto.identity import Identity


class BridgeRequest(msgspec.Struct, omit_defaults=True):
    method: str
    path: str
    query: bytes = b""
    headers: list[tuple[str, str]] = []
    identity: Identity | None = None
    request_id: str = ""
    client: str = ""
    body: bytes = b""
    # Name of a JetStream object holding the body when it is over the inline threshold.
    body_ref: str | None = None


class BridgeResponse(msgspec.Struct, omit_defaults=True):
    status: int
    headers: list[tuple[str, str]] = []
    body: bytes = b""
    body_ref: str | None = None


bridge_request_decoder = msgspec.msgpack.Decoder(BridgeRequest)
bridge_response_decoder = msgspec.msgpack.Decoder(BridgeResponse)
