"""The gateway checks route, method, caller and body limit before it reads a body: a refused
request leaves nothing in the body store and reaches no service. Real processes: nats-server,
auth_svc, media_svc and the gateway as `python -m` (persona_svc is left out on purpose: its
routes cannot be known, so they fail closed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chassis.openapi import DEFAULT_MAX_BODY
from media_svc.uploads import FRAMING_SLACK
from tests.support.media import png_bytes
from tests.support.natsd import NatsServer
from tests.support.procs import Proc, Procs
from tests.support.rawhttp import MiB, RawAnswer, bodies_store, post_streaming
from tests.support.users import User, sign_up

BIG = 100 * MiB
UPLOAD_LIMIT = 4 * MiB


@dataclass
class Edge:
    nats: NatsServer
    gateway: Proc

    @property
    def port(self) -> int:
        return self.gateway.port

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway.url, timeout=60.0)


@pytest.fixture
async def edge(procs: Procs, nats_alone: NatsServer) -> Edge:
    limit = str(UPLOAD_LIMIT)
    media = procs.start("media", "media_svc", MAX_IMAGE_BYTES=limit, MAX_VIDEO_BYTES=limit)
    auth = procs.start("auth", "auth_svc")
    gateway = procs.start("gateway", "gateway")
    await procs.wait_ready([auth, media])
    await gateway.wait_alive()
    return Edge(nats_alone, gateway)


def error_of(answer: RawAnswer | httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert set(body) == {"error", "meta"}, body
    assert body["meta"]["request_id"]
    error: dict[str, Any] = body["error"]
    return error


async def test_anonymous_100_mib_login_is_refused_before_any_of_it_is_stored(edge: Edge) -> None:
    before = await bodies_store(edge.nats.url)
    answer = await post_streaming(edge.port, "/auth/login", BIG)
    assert answer.status == 413
    error = error_of(answer)
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"limit": DEFAULT_MAX_BODY}
    # Answered from the header: the client got no further than its socket buffers.
    assert answer.sent < BIG // 2
    assert await bodies_store(edge.nats.url) == before


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/auth/no-such-route", 404, "not_found"),
        ("/auth/me", 405, "method_not_allowed"),  # GET and PATCH only
        ("/media/uploads", 401, "unauthorized"),  # needs a credential, none sent
        ("/personas", 503, "service_unavailable"),  # persona_svc's routes are unknown: fail closed
    ],
)
async def test_refused_requests_store_and_forward_nothing(
    edge: Edge, path: str, status: int, code: str
) -> None:
    before = await bodies_store(edge.nats.url)
    answer = await post_streaming(edge.port, path, BIG)
    assert answer.status == status, answer.body
    assert error_of(answer)["code"] == code
    assert answer.sent < BIG // 2
    assert await bodies_store(edge.nats.url) == before
    if status == 405:
        assert answer.headers["allow"] == "GET, HEAD, PATCH"


async def test_json_route_refuses_two_mib_declared_or_streamed(edge: Edge) -> None:
    body = b'{"email": "' + b"a" * (2 * MiB) + b'"}'

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    async with edge.http() as http:
        declared = await http.post("/auth/login", content=body, headers={"content-type": "application/json"})
        streamed = await http.post(
            "/auth/login", content=chunked(), headers={"content-type": "application/json"}
        )
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        assert error_of(r) == {
            "code": "payload_too_large",
            "message": f"request body is over {DEFAULT_MAX_BODY} bytes",
            "details": {"limit": DEFAULT_MAX_BODY},
        }
    # The streamed one was parked past the threshold, then purged when it went over.
    assert (await bodies_store(edge.nats.url)).messages == 0


async def test_upload_within_its_limit_streams_and_over_it_is_refused(edge: Edge) -> None:
    async with edge.http() as http:
        user: User = await sign_up(http)
        image = png_bytes(1400, 1000)
        assert DEFAULT_MAX_BODY < len(image) < UPLOAD_LIMIT  # over the JSON limit, within the upload one
        r = await http.post(
            "/media/uploads", files={"file": ("a.png", image, "image/png")}, headers=user.headers
        )
        assert r.status_code == 202, r.text
    assert (await bodies_store(edge.nats.url)).messages == 0
    before = await bodies_store(edge.nats.url)
    answer = await post_streaming(
        edge.port,
        "/media/uploads",
        BIG,
        {**user.headers, "content-type": "multipart/form-data; boundary=x"},
    )
    assert answer.status == 413
    assert error_of(answer)["details"] == {"limit": UPLOAD_LIMIT + FRAMING_SLACK}
    assert await bodies_store(edge.nats.url) == before


async def test_anonymous_reads_still_work_and_a_bad_token_is_still_refused(edge: Edge) -> None:
    async with edge.http() as http:
        user = await sign_up(http)
        public = await http.get(f"/auth/users/{user.id}")
        bad = await http.get(f"/auth/users/{user.id}", headers={"authorization": "Bearer not.a.token"})
        head = await http.head("/auth/me", headers=user.headers)
    assert public.status_code == 200, public.text
    assert bad.status_code == 401
    assert head.status_code == 200
