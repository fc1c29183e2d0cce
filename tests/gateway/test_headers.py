"""Security headers on every kind of answer the gateway gives: the web UI's files (and their
304s), `/docs`, JSON from a service, errors from the gateway and from a service."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx

from auth_svc.app import create_app as create_auth
from gateway.app import create_app as create_gateway
from gateway.openapi import docs_page
from tests.support.auth import PASSWORD, new_email
from tests.support.mesh import Mesh, client


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in policy.split(";")) if d}


def assert_common(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.request.url
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert directives(response)["frame-ancestors"] == "'none'"


async def test_every_answer_carries_the_security_headers(stack: Mesh) -> None:
    await stack.app(create_auth(stack.settings))
    gw = await stack.server(create_gateway(stack.settings))
    async with client(gw.url) as http:
        page = await http.get("/")
        again = await http.get("/", headers={"if-none-match": page.headers["etag"]})
        script = await http.get("/js/app.js")
        docs = await http.get("/docs")
        health = await http.get("/healthz")
        signup = await http.post("/auth/register", json={"email": new_email(), "password": PASSWORD})
        invalid = await http.post("/auth/login", json={"email": "nobody"})
        unauthorized = await http.get("/auth/me")
        missing = await http.get("/no/such/path")

    # The UI: nothing inline, nothing from elsewhere but its media.
    ui = directives(page)
    assert page.status_code == 200 and again.status_code == 304
    # Its one inline script is the import map (gateway/static.py), allowed by its hash.
    importmap = re.search(r'<script type="importmap">(.*?)</script>', page.text, re.S)
    assert importmap is not None
    mapped = base64.b64encode(hashlib.sha256(importmap.group(1).encode()).digest()).decode()
    assert ui["default-src"] == "'self'" and ui["script-src"] == f"'self' 'sha256-{mapped}'"
    assert ui["style-src"] == "'self'"
    assert ui["connect-src"] == "'self'" and ui["object-src"] == "'none'"
    assert {"'self'", "blob:", "data:"} <= set(ui["img-src"].split())
    assert "unsafe" not in page.headers["content-security-policy"]
    # A revalidated page keeps the page's policy (a browser may store the 304's headers).
    assert again.headers["content-security-policy"] == page.headers["content-security-policy"]

    # /docs: Scalar's one inline start-up script by its hash, no 'unsafe-inline' for scripts.
    inline = re.search(rb"<script>(.*?)</script>", docs_page(), re.S)
    assert inline is not None
    digest = base64.b64encode(hashlib.sha256(inline.group(1)).digest()).decode()
    assert docs.status_code == 200
    assert directives(docs)["script-src"] == f"'self' 'sha256-{digest}'"

    # Everything that is not a page may load nothing.
    for response in (script, health, signup, invalid, unauthorized, missing):
        assert_common(response)
        if response is not script:
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    for response in (page, again, docs):
        assert_common(response)
    assert [r.status_code for r in (signup, invalid, unauthorized, missing)] == [201, 422, 401, 404]
