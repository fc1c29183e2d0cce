"""`/docs` (Scalar, vendored) and what `/openapi.json` tells a reader about authenticating."""

from __future__ import annotations

from auth_svc.app import create_app as create_auth
from gateway.app import create_app as create_gateway
from tests.support.mesh import Mesh, client


async def test_the_document_explains_how_to_authenticate(stack: Mesh) -> None:
    await stack.app(create_auth(stack.settings))
    gw = await stack.server(create_gateway(stack.settings))
    async with client(gw.url) as http:
        doc = (await http.get("/openapi.json")).json()
        page = await http.get("/docs")
        bundle = await http.head("/vendor/scalar/standalone.js")
        licence = await http.get("/vendor/scalar/LICENSE")
        icon = await http.get("/favicon.ico", follow_redirects=False)
        svg = await http.get("/favicon.ico", follow_redirects=True)
    description = doc["info"]["description"]
    assert "Authorization: Bearer <access_token>" in description and "X-API-Key" in description
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and "/auth/login" in schemes["bearer"]["description"]
    assert schemes["apiKey"]["name"] == "X-API-Key" and "Account page" in schemes["apiKey"]["description"]
    assert doc["servers"] == [{"url": "/", "description": "this gateway"}]
    me = doc["paths"]["/auth/me"]["get"]
    assert me["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "403" in doc["paths"]["/auth/sessions"]["delete"]["responses"]

    # The reference is served from this gateway: the vendored bundle, never a CDN.
    assert page.status_code == 200 and '<script src="/vendor/scalar/standalone.js">' in page.text
    assert "https://" not in page.text and 'url: "/openapi.json"' in page.text
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert licence.status_code == 200 and "MIT" in licence.text
    assert icon.status_code == 301 and icon.headers["location"] == "/favicon.svg"
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
