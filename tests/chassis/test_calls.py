"""The typed call between services: an answer decoded into a proto type, or a typed error."""

from __future__ import annotations

import msgspec
import pytest

from chassis.app import ServiceContext
from chassis.calls import BusCallError, BusPayloadError
from chassis.errors import ServiceUnavailable
from proto.identity import Identity
from tests.support import sample
from tests.support.mesh import Mesh


class Hello(msgspec.Struct):
    hello: str
    replica: str


class Added(msgspec.Struct):
    item: sample.Item


class Counted(msgspec.Struct):
    count: int


async def test_fetch_decodes_the_answer_into_the_asked_type(stack: Mesh) -> None:
    running = await stack.app(sample.create_app(stack.settings))
    bus = running.state["ctx"].bus
    hello = await bus.fetch("sample", "GET", "/sample/hello", Hello)
    added = await bus.fetch("sample", "POST", "/sample/items", Added, json=sample.Item(name="x", quantity=2))
    whoami = await bus.fetch(
        "sample",
        "GET",
        "/sample/private",
        dict[str, Identity | None],
        identity=Identity(user_id="u", via="internal"),
    )
    assert hello == Hello(hello="world", replica="a")
    assert added.item == sample.Item(name="x", quantity=2)
    assert whoami["identity"] == Identity(user_id="u", via="internal")


async def test_fetch_raises_the_services_error_on_a_bad_status(stack: Mesh) -> None:
    running = await stack.app(sample.create_app(stack.settings))
    ctx: ServiceContext = running.state["ctx"]
    with pytest.raises(BusCallError) as missing:
        await ctx.bus.fetch("sample", "GET", "/sample/things/t-1", Hello)
    with pytest.raises(BusCallError) as invalid:
        await ctx.bus.fetch("sample", "POST", "/sample/items", Added, json={"name": ""})
    assert (missing.value.status, missing.value.code, missing.value.message) == (
        404,
        "not_found",
        "no such thing",
    )
    assert invalid.value.status == 422 and invalid.value.service == "sample"


async def test_fetch_raises_a_payload_error_on_an_answer_of_another_shape(stack: Mesh) -> None:
    running = await stack.app(sample.create_app(stack.settings))
    with pytest.raises(BusPayloadError) as wrong:
        await running.state["ctx"].bus.fetch("sample", "GET", "/sample/hello", Counted)
    assert wrong.value.status == 200 and "Counted" in wrong.value.message


async def test_fetch_without_a_responder_is_service_unavailable(stack: Mesh) -> None:
    running = await stack.app(sample.create_app(stack.settings))
    with pytest.raises(ServiceUnavailable):
        await running.state["ctx"].bus.fetch("nobody", "GET", "/nobody", Hello, timeout=1.0)
