"""Forward one HTTP request over the bus and relay the reply, streaming large bodies."""

from __future__ import annotations

from chassis.bridge import BusClient, forwardable
from chassis.errors import PayloadTooLarge
from gateway.asgi import Receive, Scope, Send, body_chunks, header
from gateway.encoding import encode_json
from proto.bridge import BridgeRequest
from proto.identity import Identity


async def forward(
    bus: BusClient,
    service: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    identity: Identity | None,
    request_id: str,
    max_body: int,
    client: str,
    body_timeout: float | None = None,
    body_min_rate: int = 0,
) -> int:
    length = header(scope, b"content-length")
    if length is not None and length.isdigit() and int(length) > max_body:
        # Refused from the header alone: not a byte of the body is read or stored.
        raise PayloadTooLarge(f"request body is over {max_body} bytes", details={"limit": max_body})
    request = BridgeRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b""),
        headers=forwardable(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]], service
        ),
        identity=identity,
        request_id=request_id,
        client=client,
    )
    has_body = scope["method"] not in ("GET", "HEAD", "DELETE", "OPTIONS") or length not in (None, "0")
    body = body_chunks(receive, max_body, timeout=body_timeout, min_rate=body_min_rate)
    reply = await bus.send(service, request, body if has_body else None)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    headers.append((b"x-request-id", request_id.encode()))
    if reply.body_ref is None:  # the whole answer is here (a large one streams from the store)
        headers, whole = encode_json(scope, reply.status, headers, reply.body)
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": whole})
        return reply.status
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    async for chunk in reply.iter_body():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
    return reply.status
