"""What SREs and API users get from the gateway itself: health, metrics, specs, docs, files."""

from __future__ import annotations

import random
import string

import httpx
import msgspec
import pytest

from auth_svc.app import create_app as create_auth
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from media_svc.app import create_app as create_media
from persona_svc.app import create_app as create_persona
from tests.support import sample
from tests.support.mesh import GATEWAY_SERVER, Mesh, client, with_health_port
from tests.support.ports import free_port
from tests.support.sample import SAMPLE_ROUTES


async def test_readyz_waits_for_every_service(stack: Mesh) -> None:
    gw = await stack.server(create_gateway(stack.settings))
    async with client(gw.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "alive", "component": "gateway"}
        not_ready = await http.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["nats"] == "ok"
        assert not_ready.json()["checks"]["service:auth"].startswith("failing")
        for factory in (create_auth, create_persona, create_media):
            await stack.app(factory(stack.settings))
        ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert set(ready.json()["checks"]) == {"nats", "service:auth", "service:persona", "service:media"}


async def test_service_health_port_serves_healthz_readyz_metrics(stack: Mesh) -> None:
    port = free_port()
    settings = msgspec.structs.replace(stack.settings, health_port=port)
    await stack.app(sample.create_app(settings))
    gw = await stack.server(create_gateway(settings, routes=SAMPLE_ROUTES))
    async with client(gw.url) as http:
        await http.get("/sample/hello")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert ready.status_code == 200 and ready.json()["checks"] == {"nats": "ok"}
    assert (
        'persona_http_requests_total{component="sample",method="GET",route="/sample/hello",status="200"}'
        in (metrics.text)
    )
    assert "persona_http_request_seconds_bucket" in metrics.text


async def test_gateway_metrics_are_on_its_health_port_only(stack: Mesh) -> None:
    await stack.app(sample.create_app(stack.settings))
    gw = await stack.server(create_gateway(with_health_port(stack.settings), routes=SAMPLE_ROUTES))
    async with client(gw.url) as http, client(gw.health_url) as health:
        await http.get("/sample/hello")
        public = await http.get("/metrics")
        text = (await health.get("/metrics")).text
        alive = await health.get("/healthz")
        ready = await health.get("/readyz")
        spec = (await http.get("/openapi.json")).json()
    assert public.status_code == 404 and public.json()["error"]["code"] == "not_found"
    assert "/metrics" not in spec["paths"]
    assert 'persona_http_requests_total{component="gateway",method="GET",route="sample",status="200"}' in text
    assert alive.status_code == 200 and ready.json()["component"] == "gateway"


async def test_the_gateways_own_paths_answer_their_methods_only_and_are_counted(stack: Mesh) -> None:
    gw = await stack.server(create_gateway(with_health_port(stack.settings)))
    async with client(gw.url) as http, client(gw.health_url) as health:
        before = (await health.get("/metrics")).text
        alive = await http.get("/healthz")
        head = await http.head("/healthz")
        posted = await http.post("/healthz", json={})
        docs_posted = await http.delete("/docs")
        after = (await health.get("/metrics")).text
    assert alive.status_code == 200 and alive.json() == {"status": "alive", "component": "gateway"}
    assert alive.headers["x-content-type-options"] == "nosniff"
    assert alive.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert head.status_code == 200 and head.content == b""
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"
    assert posted.json()["error"]["code"] == "method_not_allowed"
    assert "/healthz" in posted.json()["error"]["message"]
    assert docs_posted.status_code == 405 and docs_posted.headers["allow"] == "GET, HEAD"

    def count(text: str, method: str, status: int) -> float:
        labels = f'component="gateway",method="{method}",route="/healthz",status="{status}"'
        key = f"persona_http_requests_total{{{labels}}} "
        return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(key)), 0.0)

    assert count(after, "GET", 200) - count(before, "GET", 200) == 1
    assert count(after, "POST", 405) - count(before, "POST", 405) == 1


def test_no_service_or_plugin_may_claim_a_gateway_path() -> None:
    with pytest.raises(ValueError, match="/docs"):
        create_gateway(Settings(), routes=[("/docs", "persona")])


def series(metrics_text: str) -> set[str]:
    """The labelled series of the HTTP request metrics."""
    names = ("persona_http_requests_total{", "persona_http_request_seconds_count{")
    return {line.rpartition(" ")[0] for line in metrics_text.splitlines() if line.startswith(names)}


async def test_made_up_methods_and_paths_add_no_metric_series(stack: Mesh) -> None:
    await stack.app(sample.create_app(stack.settings))
    gw = await stack.server(create_gateway(with_health_port(stack.settings), routes=SAMPLE_ROUTES))
    rng = random.Random(14)

    def made_up(length: int = 8) -> str:
        return "".join(rng.choices(string.ascii_uppercase, k=length))

    paths = ("/sample/hello", "/sample/things/{}", "/sample/{}", "/{}", "/healthz")
    async with client(gw.url) as http, client(gw.health_url) as health:
        # Every label value the random requests can reach, once.
        for method in ("GET", "POST", "BREW"):
            for path in paths:
                await http.request(method, path.format("x"))
        before = series((await health.get("/metrics")).text)
        for _ in range(300):
            await http.request(made_up(), rng.choice(paths).format(made_up()))
        after = series((await health.get("/metrics")).text)
    assert len(after) == len(before), sorted(after - before)[:10]
    methods = {label.split('method="')[1].split('"')[0] for label in after}
    # The process's registry is shared with other tests: no made-up method in any series.
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    if GATEWAY_SERVER != "uvicorn":  # uvicorn's parser (llhttp) answers 400 itself to an unknown method
        assert 'method="other"' in "".join(after)


async def test_openapi_is_merged_from_services_over_the_bus(stack: Mesh) -> None:
    await stack.app(sample.create_app(stack.settings))
    gw = await stack.server(create_gateway(stack.settings, routes=SAMPLE_ROUTES))
    async with client(gw.url) as http:
        doc = (await http.get("/openapi.json")).json()
        docs = await http.get("/docs")
    assert doc["openapi"] == "3.1.0"
    assert "/sample/items" in doc["paths"] and "/healthz" in doc["paths"]
    item = doc["components"]["schemas"]["Item"]
    assert item["properties"]["name"]["maxLength"] == 80
    body = doc["paths"]["/sample/items"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Item"}
    assert "422" in doc["paths"]["/sample/items"]["post"]["responses"]
    assert set(doc["info"]["x-unavailable-services"]) == {"auth", "persona", "media"}
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text and "https://" not in docs.text  # works offline


async def test_web_files_are_served_at_root(stack: Mesh) -> None:
    gw = await stack.server(create_gateway(stack.settings))
    async with client(gw.url) as http:
        index = await http.get("/")
        again = await http.get("/", headers={"if-none-match": index.headers["etag"]})
        head = await http.head("/index.html")
        escape = await http.get("/../pyproject.toml")
        escape_encoded = await http.get("/%2e%2e/pyproject.toml")
    assert index.status_code == 200 and "<html" in index.text
    assert again.status_code == 304
    assert head.status_code == 200 and head.headers["content-length"] == index.headers["content-length"]
    assert escape.status_code == 404 and escape_encoded.status_code == 404
