"""Internal clients: a service calling another over `rpc.<service>` with an identity."""

from __future__ import annotations

from chassis.app import ServiceContext
from proto.identity import Identity
from tests.support import sample
from tests.support.mesh import Mesh


async def test_service_calls_another_over_rpc_with_identity(stack: Mesh) -> None:
    running = await stack.app(sample.create_app(stack.settings))
    ctx: ServiceContext = running.state["ctx"]
    assert ctx.bus.prefix == "rpc"
    me = Identity(user_id="u-1", via="internal")
    hello = await ctx.bus.call("sample", "GET", "/sample/hello")
    whoami = await ctx.bus.call("sample", "GET", "/sample/private", identity=me)
    created = await ctx.bus.call("sample", "POST", "/sample/items", json={"name": "x", "quantity": 1})
    assert hello.status == 200 and hello.json()["data"]["hello"] == "world"
    assert whoami.status == 200 and whoami.json()["data"]["identity"] == {"user_id": "u-1", "via": "internal"}
    assert created.status == 201
