"""The gateway → NATS → service round trip, against a real nats-server."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from typing import Any

import httpx
import msgspec
import nats
import pytest

from gateway.app import create_app as create_gateway
from gateway.identity import Anonymous
from tests.support import sample
from tests.support.mesh import Mesh, RunningApp, RunningServer, client, speaks_http2
from tests.support.sample import SAMPLE_ROUTES

MiB = 1024 * 1024


@pytest.fixture
async def sample_svc(stack: Mesh) -> RunningApp:
    return await stack.app(sample.create_app(stack.settings, replica="a"))


@pytest.fixture
async def gateway(stack: Mesh, sample_svc: RunningApp) -> RunningServer:
    # The bridge is under test here; token checks are tested in tests/gateway/test_auth.py.
    return await stack.server(create_gateway(stack.settings, routes=SAMPLE_ROUTES, authenticator=Anonymous()))


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error", "meta"}, body
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


async def test_round_trip_wraps_data_in_envelope(gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        r = await http.get("/sample/hello", headers={"x-request-id": "trace-123"})
    assert r.status_code == 200
    assert r.json() == {"data": {"hello": "world", "replica": "a"}, "meta": {"request_id": "trace-123"}}
    assert r.headers["x-request-id"] == "trace-123"


async def test_request_id_is_generated_when_absent_or_invalid(gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        r = await http.get("/sample/hello", headers={"x-request-id": "bad id with spaces"})
    rid = r.json()["meta"]["request_id"]
    assert rid and rid != "bad id with spaces" and r.headers["x-request-id"] == rid


async def bodies_left(stack: Mesh) -> int:
    nc = await nats.connect(stack.settings.nats_url)
    try:
        info = await nc.jetstream().stream_info("OBJ_bodies")
        return int(info.state.messages)
    finally:
        await nc.close()


async def test_five_mib_request_body_streams_through_object_store(
    stack: Mesh, gateway: RunningServer
) -> None:
    payload = hashlib.sha256(b"in").digest() * (5 * MiB // 32)

    async def chunks() -> Any:
        for i in range(0, len(payload), 64 * 1024):
            yield payload[i : i + 64 * 1024]

    async with client(gateway.url) as http:
        r = await http.post("/sample/digest", content=chunks())
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
    assert await bodies_left(stack) == 0


async def test_five_mib_response_body_streams_through_object_store(
    stack: Mesh, gateway: RunningServer
) -> None:
    size = 5 * MiB + 123
    expected = bytearray()
    async for piece in sample.blob_bytes(size):
        expected += piece
    async with client(gateway.url) as http:
        r = await http.get("/sample/blob", params={"size": size})
    assert r.status_code == 200
    assert len(r.content) == size and r.content == bytes(expected)
    assert await bodies_left(stack) == 0


async def test_concurrent_requests_spread_across_two_replicas(stack: Mesh, gateway: RunningServer) -> None:
    await stack.app(sample.create_app(stack.settings, replica="b"))
    async with client(gateway.url, limits=httpx.Limits(max_connections=50)) as http:
        responses = await asyncio.gather(*(http.get("/sample/hello") for _ in range(200)))
    assert all(r.status_code == 200 for r in responses)
    replicas = Counter(r.json()["data"]["replica"] for r in responses)
    assert set(replicas) == {"a", "b"}, replicas
    assert sum(replicas.values()) == 200


async def test_stopped_service_gives_503_then_recovers_without_gateway_restart(
    sample_svc: RunningApp, gateway: RunningServer
) -> None:
    async with client(gateway.url) as http:
        assert (await http.get("/sample/hello")).status_code == 200
        await sample_svc.stop()
        r = await http.get("/sample/hello")
        assert r.status_code == 503
        assert error_of(r)["code"] == "service_unavailable"
        await sample_svc.start()
        assert (await http.get("/sample/hello")).status_code == 200


async def test_handler_past_timeout_gives_504(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, request_timeout=0.5)
    await stack.app(sample.create_app(settings))
    gw = await stack.server(create_gateway(settings, routes=SAMPLE_ROUTES))
    async with client(gw.url) as http:
        r = await http.get("/sample/slow", params={"seconds": 2})
    assert r.status_code == 504
    assert error_of(r)["code"] == "gateway_timeout"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "x", "quantity": ', "body"),
        (b'{"name": "x", "quantity": "three"}', "quantity"),
        (b'{"quantity": 3}', "name"),
        (json.dumps({"name": "x" * 81, "quantity": 1}).encode(), "name"),
        (json.dumps({"name": "x", "quantity": 1, "tags": ["a", 2]}).encode(), "tags[1]"),
    ],
)
async def test_bad_bodies_give_422_naming_the_field(gateway: RunningServer, body: bytes, field: str) -> None:
    async with client(gateway.url) as http:
        r = await http.post("/sample/items", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    error = error_of(r)
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == field
    assert field.split("[")[0] in error["message"]


async def test_valid_body_is_created(gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        r = await http.post("/sample/items", json={"name": "lamp", "quantity": 2})
    assert r.status_code == 201
    assert r.json()["data"] == {"item": {"name": "lamp", "quantity": 2, "tags": []}}


async def test_unknown_routes_give_404_envelopes(gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        at_gateway = await http.get("/nowhere")
        at_service = await http.get("/sample/nowhere")
        raised = await http.get("/sample/things/42")
    for r in (at_gateway, at_service, raised):
        assert r.status_code == 404
        assert error_of(r)["code"] == "not_found"
    assert error_of(raised)["details"] == {"thing": "42"}


async def test_crash_is_500_that_leaks_nothing(gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        r = await http.get("/sample/crash")
    assert r.status_code == 500
    assert error_of(r)["code"] == "internal_error"
    assert "hunter2" not in r.text and "RuntimeError" not in r.text


@pytest.mark.skipif(not speaks_http2, reason="uvicorn has no HTTP/2")
async def test_http2_cleartext_with_prior_knowledge(gateway: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, http1=False, http2=True) as http:
        r = await http.get("/sample/hello")
    assert r.status_code == 200
    assert r.http_version == "HTTP/2"


async def test_credentials_stay_at_the_gateway(gateway: RunningServer) -> None:
    secrets = {"authorization": "Bearer secret-token", "x-api-key": "pc_secret", "cookie": "session=secret"}
    async with client(gateway.url) as http:
        r = await http.get("/sample/whoami", headers=secrets)
        private = await http.get("/sample/private")
    assert r.json()["data"] == {"identity": None, "authorization": None}
    assert private.status_code == 401 and error_of(private)["code"] == "unauthorized"


async def test_service_is_listed_by_nats_micro(stack: Mesh, gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        await http.get("/sample/hello")
    nc = await nats.connect(stack.settings.nats_url)
    try:
        ping = json.loads((await nc.request("$SRV.PING.sample", b"", timeout=2)).data)
        info = json.loads((await nc.request("$SRV.INFO.sample", b"", timeout=2)).data)
        stats = json.loads((await nc.request("$SRV.STATS.sample", b"", timeout=2)).data)
    finally:
        await nc.close()
    assert ping["name"] == "sample" and ping["type"] == "io.nats.micro.v1.ping_response"
    assert sorted(e["subject"] for e in info["endpoints"]) == ["http.sample", "rpc.sample"]
    http_stats = next(e for e in stats["endpoints"] if e["subject"] == "http.sample")
    assert http_stats["num_requests"] >= 1


@pytest.mark.parametrize("encoding", ["br", "gzip"])
async def test_a_large_json_answer_is_compressed_as_the_client_accepts(
    gateway: RunningServer, encoding: str
) -> None:
    # The service answers with the item it was sent: about 4 KB of JSON.
    item = {"name": "lantern", "quantity": 1, "tags": [f"tag-{i:03d}-of-a-long-list" for i in range(150)]}
    async with client(gateway.url) as http:
        packed = await http.post("/sample/items", json=item, headers={"accept-encoding": encoding})
        plain = await http.post("/sample/items", json=item, headers={"accept-encoding": "identity"})
        small = await http.get("/sample/hello", headers={"accept-encoding": encoding})
    assert packed.status_code == plain.status_code == 201
    assert packed.headers["content-encoding"] == encoding and packed.headers["vary"] == "Accept-Encoding"
    assert int(packed.headers["content-length"]) < 1000 < len(plain.content)
    assert packed.json()["data"] == plain.json()["data"] == {"item": item}
    assert "content-encoding" not in plain.headers and int(plain.headers["content-length"]) == len(
        plain.content
    )
    # A small answer costs more in headers than it would save.
    assert "content-encoding" not in small.headers and small.json()["data"]["hello"] == "world"
