"""The gateway's routes follow the services' documents: none before a service is up (503, body
unread), its routes once it is, and a route a new version adds after a refresh, all without a
gateway restart."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request

from chassis.app import create_service_app
from chassis.openapi import OpenAPI
from chassis.routing import route
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from gateway.identity import Anonymous
from tests.support.mesh import Mesh, client


def things(settings: Settings, version: int) -> Starlette:
    async def thing(request: Request) -> dict[str, int]:
        return {"version": version}

    spec = OpenAPI("things")
    spec.add("get", "/things/a", "A")
    routes = [route("/things/a", thing)]
    if version > 1:
        spec.add("get", "/things/b", "B, new in version 2")
        routes.append(route("/things/b", thing, name="b"))
    return create_service_app("things", settings, routes, spec=spec)


async def status_becomes(http: httpx.AsyncClient, path: str, status: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (r := await http.get(path)).status_code != status:
        assert asyncio.get_running_loop().time() < deadline, f"{path}: {r.status_code} {r.text}"
        await asyncio.sleep(0.1)


async def test_routes_appear_with_the_service_and_follow_its_document(stack: Mesh) -> None:
    settings = msgspec.structs.replace(stack.settings, gateway_routes_refresh=0.2)
    gateway = await stack.server(
        create_gateway(settings, routes=[("/things", "things")], authenticator=Anonymous())
    )
    async with client(gateway.url) as http:
        before = await http.get("/things/a")
        assert before.status_code == 503
        assert before.json()["error"]["details"] == {"service": "things"}

        v1 = await stack.app(things(settings, 1))
        await status_becomes(http, "/things/a", 200)
        assert (await http.get("/things/b")).status_code == 404

        await v1.stop()
        await stack.app(things(settings, 2))
        await status_becomes(http, "/things/b", 200)
        assert (await http.get("/things/b")).json()["data"] == {"version": 2}
