"""The ASGI-over-NATS bridge.

`BridgeServer` answers `http.<service>` in queue group `<service>` (registered with
`nats.micro`, so `$SRV.PING/INFO/STATS` list it) by running the service's ASGI app
on a scope rebuilt from the envelope. `BusClient` is the other end: the gateway and
any internal caller send one envelope and get status, headers and body back.
Bodies over `body_threshold` travel through the `bodies` object store, streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import msgspec
import nats.errors
import nats.micro
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.micro.request import Request as MicroRequest
from starlette.types import ASGIApp, Message, Scope

from chassis import metrics, objects
from chassis.auth import SCOPE_KEY
from chassis.calls import T, decode_answer
from chassis.context import new_request_id, request_id_var
from chassis.errors import GatewayTimeout, HTTPError, ServiceUnavailable
from chassis.responses import error_body
from chassis.settings import Settings
from proto.bridge import BridgeRequest, BridgeResponse, bridge_request_decoder, bridge_response_decoder
from proto.codec import json_encoder, msgpack_encoder
from proto.identity import Identity
from proto.subjects import HTTP_PREFIX, OBJ_BODIES, http_subject, rpc_subject

log = structlog.get_logger("chassis.bridge")

REQUEST_ID_HEADER = "Request-Id"
# Connection-level headers that must not cross a hop (RFC 9110 §7.6.1), plus
# credentials: services receive the verified identity, never the raw secret.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
    }
)
CREDENTIALS = frozenset({"authorization", "x-api-key", "cookie"})


def forwardable(headers: Sequence[tuple[str, str]], service: str = "") -> list[tuple[str, str]]:
    """What crosses to `service`: no hop-by-hop header, no credential, and of the cookies only
    those named `<service>_…`, the ones it set for itself (auth_svc's refresh cookie)."""
    out = [(k, v) for k, v in headers if k not in HOP_BY_HOP and k not in CREDENTIALS]
    if service:
        prefix = f"{service}_"
        own = [
            part.strip()
            for k, v in headers
            if k == "cookie"
            for part in v.split(";")
            if part.strip().startswith(prefix)
        ]
        if own:
            out.append(("cookie", "; ".join(own)))
    return out


@dataclass
class BridgeServer:
    nc: NATS
    js: JetStreamContext
    service: str
    app: ASGIApp
    settings: Settings
    _: KW_ONLY
    state: dict[str, Any] = field(default_factory=dict)
    version: str = "0.1.0"
    description: str = ""
    _micro: nats.micro.service.Service | None = field(default=None, init=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    async def start(self) -> None:
        self._micro = await nats.micro.add_service(
            self.nc,
            name=self.service,
            version=self.version,
            description=self.description or f"{self.service} HTTP API over NATS",
            queue_group=self.service,
        )
        for name, subject in (("http", http_subject(self.service)), ("rpc", rpc_subject(self.service))):
            await self._micro.add_endpoint(
                name=name,
                subject=subject,
                handler=self._on_request,
                metadata={"envelope": "proto.bridge.BridgeRequest (msgpack)"},
            )
        # The subscriptions sit in the client's write buffer until flushed: ready means the
        # server has them, or a request right after start finds no responders.
        await self.nc.flush()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking requests, then let those in flight finish."""
        if self._micro is not None:
            await self._micro.stop()
            self._micro = None
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)

    @property
    def inflight(self) -> int:
        return len(self._tasks)

    async def _on_request(self, request: MicroRequest) -> None:
        # Micro endpoints run callbacks one at a time; each request gets its own task.
        task = asyncio.create_task(self._serve(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, request: MicroRequest) -> None:
        started = time.perf_counter()
        try:
            breq = bridge_request_decoder.decode(request.data)
        except msgspec.DecodeError:
            await request.respond_error("400", "malformed bridge envelope")
            return
        rid = breq.request_id or new_request_id()
        request_id_var.set(rid)
        structlog.contextvars.bind_contextvars(request_id=rid)
        metrics.bridge_inflight.labels(self.service).inc()
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": breq.method,
            "scheme": "http",
            "path": breq.path,
            "raw_path": breq.path.encode(),
            "query_string": breq.query,
            "root_path": "",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in breq.headers]
            + [(b"x-request-id", rid.encode())],
            "client": (breq.client or "bridge", 0),
            "server": (self.service, 0),
            "state": dict(self.state),
            SCOPE_KEY: breq.identity,
            "request_id": rid,
        }
        exchange = _Exchange(self.js, breq, self.settings.body_threshold)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception:
            log.exception("unhandled error in ASGI app", path=breq.path)
            if not exchange.started:
                exchange.fail(
                    500, "internal_error", "internal error; the request id identifies it in the logs"
                )
        reply = await exchange.finish()
        if breq.body_ref:
            # The app has read the body: delete it before answering, so that once a caller has its
            # answer nothing of its request is left in the store.
            await objects.delete_object(self.js, OBJ_BODIES, breq.body_ref)
        try:
            await request.respond(msgpack_encoder.encode(reply), headers={REQUEST_ID_HEADER: rid})
        except Exception:  # noqa: BLE001 - the caller gave up or the bus is gone
            log.warning("could not send bridge reply", path=breq.path)
        # The route's template (`/personas/{persona_id}`), never the path a client made up.
        template = getattr(scope.get("route"), "path", metrics.UNMATCHED_ROUTE)
        seconds = time.perf_counter() - started
        metrics.observe_request(self.service, breq.method, template, reply.status, seconds)
        metrics.bridge_inflight.labels(self.service).dec()


class _Exchange:
    """One request's receive/send pair; large response bodies stream into the object store."""

    def __init__(self, js: JetStreamContext, breq: BridgeRequest, threshold: int) -> None:
        self.js = js
        self.breq = breq
        self.threshold = threshold
        self.started = False
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self._done = asyncio.Event()
        self._body_chunks: AsyncIterator[bytes] | None = None
        self._body_sent = False
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._writer: asyncio.Task[int] | None = None
        self._ref: str | None = None

    async def receive(self) -> Message:
        if self._body_sent:
            await self._done.wait()
            return {"type": "http.disconnect"}
        if not self.breq.body_ref:
            self._body_sent = True
            return {"type": "http.request", "body": self.breq.body, "more_body": False}
        if self._body_chunks is None:
            self._body_chunks = objects.get_stream(self.js, OBJ_BODIES, self.breq.body_ref)
        try:
            chunk = await anext(self._body_chunks)
        except StopAsyncIteration:
            self._body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
            return
        if message["type"] != "http.response.body":
            return
        chunk = bytes(message.get("body", b""))
        if self._queue is not None:
            await self._queue.put(chunk)
        else:
            self.body += chunk
            if len(self.body) > self.threshold:
                self._start_writer()
        if not message.get("more_body", False):
            self._done.set()

    def _start_writer(self) -> None:
        self._ref = f"res-{uuid.uuid4().hex}"
        self._queue = asyncio.Queue(maxsize=8)
        first = bytes(self.body)
        self.body.clear()
        queue = self._queue

        async def pieces() -> AsyncIterator[bytes]:
            yield first
            while (item := await queue.get()) is not None:
                yield item

        self._writer = asyncio.create_task(objects.put_stream(self.js, OBJ_BODIES, self._ref, pieces()))

    def fail(self, status: int, code: str, message: str) -> None:
        self.started = True
        self.status = status
        self.headers = [("content-type", "application/json")]
        self.body = bytearray(error_body(status, code, message))

    async def finish(self) -> BridgeResponse:
        self._done.set()
        if self._writer is not None and self._queue is not None:
            await self._queue.put(None)
            try:
                await self._writer
            except Exception:
                log.exception("could not store the response body")
                self.fail(500, "internal_error", "could not relay the response body")
                return BridgeResponse(status=self.status, headers=self.headers, body=bytes(self.body))
            return BridgeResponse(status=self.status, headers=self.headers, body_ref=self._ref)
        return BridgeResponse(status=self.status, headers=self.headers, body=bytes(self.body))


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    body_ref: str | None = None
    _js: JetStreamContext | None = field(default=None, repr=False)

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The body, inline or streamed from the object store (deleted once read or abandoned)."""
        if self.body_ref is None or self._js is None:
            if self.body:
                yield self.body
            return
        ref, self.body_ref = self.body_ref, None
        try:
            async for chunk in objects.get_stream(self._js, OBJ_BODIES, ref):
                yield chunk
        finally:
            await asyncio.shield(objects.delete_object(self._js, OBJ_BODIES, ref))

    async def read(self) -> bytes:
        if self.body_ref is None:
            return self.body
        out = bytearray()
        async for chunk in self.iter_body():
            out += chunk
        self.body = bytes(out)
        return self.body

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


class BusClient:
    """Calls a service over the bus with the bridge envelope: the gateway on `http.<service>`,
    services (prefix `rpc`) on `rpc.<service>`."""

    def __init__(
        self, nc: NATS, js: JetStreamContext, settings: Settings, *, prefix: str = HTTP_PREFIX
    ) -> None:
        self.nc = nc
        self.js = js
        self.settings = settings
        self.prefix = prefix

    async def send(
        self,
        service: str,
        request: BridgeRequest,
        body: AsyncIterable[bytes] | None = None,
        *,
        timeout: float | None = None,
    ) -> Reply:
        """Send one request; raises ServiceUnavailable (no replica) or GatewayTimeout."""
        if body is not None:
            await self._attach_body(request, body)
        payload = msgpack_encoder.encode(request)
        headers = {REQUEST_ID_HEADER: request.request_id} if request.request_id else None
        deadline = time.monotonic() + self.settings.no_responders_retry
        try:
            while True:
                try:
                    msg = await self.nc.request(
                        f"{self.prefix}.{service}",
                        payload,
                        timeout=timeout or self.settings.request_timeout,
                        headers=headers,
                    )
                    break
                except nats.errors.NoRespondersError:
                    # Nobody received it, so trying again cannot run it twice; this
                    # rides over a rolling restart of the only replica.
                    if time.monotonic() >= deadline:
                        raise ServiceUnavailable(
                            f"the {service} service is not running; retry shortly",
                            details={"service": service},
                        ) from None
                    await asyncio.sleep(0.1)
                except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
                    raise ServiceUnavailable("the message bus is unreachable; retry shortly") from None
                except nats.errors.TimeoutError:
                    raise GatewayTimeout(
                        f"the {service} service did not answer in time", details={"service": service}
                    ) from None
        except HTTPError:
            if request.body_ref:
                await objects.delete_object(self.js, OBJ_BODIES, request.body_ref)
            raise
        if msg.headers and msg.headers.get(nats.micro.request.ERROR_HEADER):
            raise ServiceUnavailable(
                f"the {service} service failed: {msg.headers[nats.micro.request.ERROR_HEADER]}"
            )
        res = bridge_response_decoder.decode(msg.data)
        return Reply(res.status, res.headers, res.body, res.body_ref, self.js)

    async def _attach_body(self, request: BridgeRequest, body: AsyncIterable[bytes]) -> None:
        it = aiter(body)
        head = bytearray()
        async for chunk in it:
            head += chunk
            if len(head) > self.settings.body_threshold:
                break
        else:
            request.body = bytes(head)
            return
        ref = f"req-{uuid.uuid4().hex}"

        async def pieces() -> AsyncIterator[bytes]:
            yield bytes(head)
            async for rest in it:
                yield rest

        await objects.put_stream(self.js, OBJ_BODIES, ref, pieces())
        request.body_ref = ref

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        query: str = "",
        identity: Identity | None = None,
        headers: list[tuple[str, str]] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Convenience for internal clients: JSON in, `Reply` out (body already read)."""
        hdrs = list(headers or [])
        body = b""
        if json is not None:
            body = json_encoder.encode(json)
            hdrs.append(("content-type", "application/json"))
        req = BridgeRequest(
            method=method.upper(),
            path=path,
            query=query.encode(),
            headers=hdrs,
            identity=identity,
            request_id=request_id_var.get() or new_request_id(),
        )

        async def one() -> AsyncIterator[bytes]:
            yield body

        reply = await self.send(service, req, one(), timeout=timeout)
        await reply.read()
        return reply

    async def fetch(
        self,
        service: str,
        method: str,
        path: str,
        type_: type[T],
        *,
        json: Any = None,
        query: str = "",
        identity: Identity | None = None,
        timeout: float | None = None,
    ) -> T:
        """The typed call between services: the answer's `data` decoded as `type_`.

        Raises ServiceUnavailable or GatewayTimeout when nobody answers (as `call`),
        `BusCallError` on a non-2xx answer and `BusPayloadError` on a body of another shape."""
        reply = await self.call(
            service, method, path, json=json, query=query, identity=identity, timeout=timeout
        )
        return decode_answer(service, reply.status, reply.body, type_)


@contextlib.asynccontextmanager
async def serving(server: BridgeServer) -> AsyncIterator[BridgeServer]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
