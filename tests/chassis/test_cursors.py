"""Keyset cursors: a client walks every page by passing `meta.next_cursor` back as is; a cursor
that is not ours (garbage, tampered, another ordering's) is a 422 naming `cursor`, through the
gateway, in the error envelope."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from gateway.app import create_app as create_gateway
from gateway.identity import Anonymous
from tests.support import sample
from tests.support.mesh import Mesh, RunningServer, client
from tests.support.sample import SAMPLE_ROUTES


@pytest.fixture
async def gateway(stack: Mesh) -> RunningServer:
    await stack.app(sample.create_app(stack.settings))
    return await stack.server(create_gateway(stack.settings, routes=SAMPLE_ROUTES, authenticator=Anonymous()))


async def walk(http: httpx.AsyncClient, order: str) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        params = {"order": order, **({"cursor": cursor} if cursor else {})}
        r = await http.get("/sample/numbers", params=params)
        assert r.status_code == 200, r.text
        seen += r.json()["data"]
        cursor = r.json()["meta"].get("next_cursor")
        if cursor is None:
            return seen


def refused(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "meta"} and body["meta"]["request_id"]
    assert body["error"]["details"]["field"] == "cursor"
    error: dict[str, Any] = body["error"]
    return error


async def test_cursors_walk_every_page_once(gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        assert await walk(http, "ascending") == sample.NUMBERS
        assert await walk(http, "descending") == sample.NUMBERS[::-1]


async def test_a_cursor_that_is_not_ours_is_a_422(gateway: RunningServer) -> None:
    async with client(gateway.url) as http:
        first = await http.get("/sample/numbers")
        cursor = first.json()["meta"]["next_cursor"]
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tampered = base64.urlsafe_b64encode(raw.replace(b'"a"', b'"x"')).decode()
        for bad in ("garbage!", "e30", tampered, cursor[:-3]):
            error = refused(await http.get("/sample/numbers", params={"cursor": bad}))
            assert error["message"] == "cursor is not valid: pass meta.next_cursor as is"
        other = refused(await http.get("/sample/numbers", params={"cursor": cursor, "order": "descending"}))
        assert other["message"] == "cursor belongs to another ordering or list"


def test_a_cursor_round_trips() -> None:
    key = sample.Descending(after=3)
    assert sample.cursors.decode(sample.cursors.encode(key), sample.Descending) == key
    assert sample.cursors.decode(None, sample.Descending) is None
    assert sample.cursors.decode("", sample.Descending) is None
