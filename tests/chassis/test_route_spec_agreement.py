"""A service's OpenAPI document and its route table agree: the gateway routes only the operations
the document lists, so a route missing from it cannot be reached, and an operation no route
serves is a promise nothing keeps (clients, `make docs` and `make fuzz` read the document)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.schemas import BaseSchemaGenerator
from starlette.testclient import TestClient

from chassis.app import create_service_app
from chassis.openapi import Doc, OpenAPI
from chassis.routing import route
from chassis.settings import Settings
from tests.support.documents import SERVICE_APPS, served_document

Operations = set[tuple[str, str]]


def served(app: Starlette) -> Operations:
    """What the route table serves, walked by Starlette's own schema generator (not ours)."""
    return {(e.http_method.upper(), e.path) for e in BaseSchemaGenerator().get_endpoints(app.routes)}


def documented(document: dict[str, Any]) -> Operations:
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}


def disagreement(app: Starlette) -> tuple[Operations, Operations]:
    """(routes the document leaves out, operations of the document no route serves)."""
    routes, doc = served(app), documented(served_document(app))
    return routes - doc, doc - routes


@pytest.mark.parametrize("create_app", SERVICE_APPS.values(), ids=SERVICE_APPS.keys())
def test_the_document_lists_every_route_and_nothing_else(create_app: Callable[[Settings], Starlette]) -> None:
    app = create_app(Settings())
    assert len(served(app)) >= 9  # the whole table, not an empty one
    assert disagreement(app) == (set(), set())


@pytest.mark.parametrize("create_app", SERVICE_APPS.values(), ids=SERVICE_APPS.keys())
def test_an_operation_documented_as_needing_a_credential_refuses_a_caller_without_one(
    create_app: Callable[[Settings], Starlette],
) -> None:
    app = create_app(Settings())
    client = TestClient(app)
    secured = [
        (method, path)
        for path, ops in served_document(app)["paths"].items()
        for method, op in ops.items()
        if "security" in op
    ]
    assert secured
    for method, path in secured:
        response = client.request(method, path.replace("{", "").replace("}", ""))
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


def test_a_route_without_a_description_and_an_operation_without_a_route_are_caught() -> None:
    @Doc("Read a thing")
    async def read_thing(request: Request) -> object:
        """A thing, as stored;
        never cached.

        Gone things are 404."""
        return {}

    async def undescribed(request: Request) -> object:
        return {}

    spec = OpenAPI("things")
    spec.add("delete", "/things/{thing_id}", "Delete a thing (no route serves it)")
    routes = [
        route("/things/{thing_id}", read_thing),
        route("/things/{thing_id}", undescribed, methods=["PATCH"], auth=True),
        route("/things/internal", undescribed, methods=["POST"], include_in_schema=False),
    ]
    app = create_service_app("things", Settings(), routes, spec=spec, bridge=False)

    assert disagreement(app) == ({("PATCH", "/things/{thing_id}")}, {("DELETE", "/things/{thing_id}")})
    document = served_document(app)
    assert documented(document) == {("GET", "/things/{thing_id}"), ("DELETE", "/things/{thing_id}")}
    # The handler's docstring is the description: its lines joined, its paragraphs kept.
    read = document["paths"]["/things/{thing_id}"]["get"]
    assert read["description"] == "A thing, as stored; never cached.\n\nGone things are 404."
