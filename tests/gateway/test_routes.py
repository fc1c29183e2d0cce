"""The gateway's route table read from a service's OpenAPI document (built by the chassis
builder, as every service's is)."""

from __future__ import annotations

import msgspec
import pytest

from chassis.errors import MethodNotAllowed, NotFound
from chassis.openapi import DEFAULT_MAX_BODY, OpenAPI
from gateway.routes import RouteTable


class Thing(msgspec.Struct):
    name: str


def table() -> RouteTable:
    spec = OpenAPI("things")
    spec.add("get", "/things", "List")
    spec.add("post", "/things", "Create", body=Thing, auth=True)
    spec.add("get", "/things/{thing_id}", "Read")
    spec.add("delete", "/things/{thing_id}", "Delete", auth=True)
    spec.add("get", "/things/mine", "Mine", auth=True)
    spec.add("post", "/things/import", "Import", max_body=5_000_000, content_type="image/png", auth=True)
    spec.add("get", "/things/{thing_id}/card.json", "Card")
    routes = RouteTable([("/things", "things")])
    routes.load("things", spec.document())
    return routes


def test_operations_carry_auth_and_body_limit() -> None:
    routes = table()
    create = routes.match("things", "POST", "/things")
    assert (create.template, create.auth, create.max_body) == ("/things", True, DEFAULT_MAX_BODY)
    assert routes.match("things", "GET", "/things").auth is False
    assert routes.match("things", "POST", "/things/import").max_body == 5_000_000


def test_literal_segments_win_over_parameters() -> None:
    routes = table()
    assert routes.match("things", "GET", "/things/mine").template == "/things/mine"
    assert routes.match("things", "GET", "/things/42").template == "/things/{thing_id}"
    # `/things/import` is POST only, so a GET of it is a read of the thing called "import".
    assert routes.match("things", "GET", "/things/import").template == "/things/{thing_id}"
    assert routes.match("things", "GET", "/things/42/card.json").template == "/things/{thing_id}/card.json"


def test_head_is_get() -> None:
    assert table().match("things", "HEAD", "/things/42").method == "GET"


@pytest.mark.parametrize("path", ["/things/42/nope", "/things/a/b", "/thingsx", "/things/42/cardXjson"])
def test_unknown_paths_are_404(path: str) -> None:
    with pytest.raises(NotFound):
        table().match("things", "GET", path)


def test_wrong_method_is_405_naming_the_allowed_ones() -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        table().match("things", "PUT", "/things/42")
    assert caught.value.headers == {"Allow": "DELETE, GET, HEAD"}


def test_optional_credential_is_not_required() -> None:
    doc = {
        "paths": {
            "/a": {"get": {"security": [{"bearer": []}, {}]}},
            "/b": {"get": {"security": [{"bearer": []}]}},
            "/c": {"get": {"security": []}},
        }
    }
    routes = RouteTable([("/", "x")])
    routes.load("x", doc)
    assert [routes.match("x", "GET", p).auth for p in ("/a", "/b", "/c")] == [False, True, False]
    # A document without `x-max-body` (an older replica) gets the JSON limit.
    assert routes.match("x", "GET", "/a").max_body == DEFAULT_MAX_BODY


def test_a_service_without_a_document_has_no_routes() -> None:
    routes = RouteTable([("/things", "things")])
    assert not routes.loaded("things")
    with pytest.raises(NotFound):
        routes.match("things", "GET", "/things")
