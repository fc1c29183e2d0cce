"""`TLS_CERT`/`TLS_KEY`: the gateway serves HTTPS under each server; h2 negotiated by ALPN where
the server speaks it (Hypercorn, Granian; uvicorn speaks HTTP/1.1 only)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import msgspec
import pytest

from gateway.app import create_app as create_gateway
from gateway.servers import SERVERS, serve
from tests.support.mesh import Mesh
from tests.support.ports import free_port
from tests.support.tls import self_signed


@pytest.mark.parametrize("server", SERVERS)
async def test_gateway_serves_https(stack: Mesh, tmp_path: Path, server: str) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    settings = msgspec.structs.replace(
        stack.settings, port=port, tls_cert=str(cert), tls_key=str(key), gateway_server=server
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(create_gateway(settings), settings, stop.wait, graceful=1.0))
    try:
        context = ssl.create_default_context(cafile=str(cert))
        for _ in range(100):
            try:
                async with httpx.AsyncClient(verify=context, http2=True) as http:
                    r = await http.get(f"https://localhost:{port}/healthz")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        assert r.status_code == 200
        assert r.http_version == ("HTTP/1.1" if server == "uvicorn" else "HTTP/2")
        # A client that stops at TLS 1.2 is served too.
        old = ssl.create_default_context(cafile=str(cert))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        async with httpx.AsyncClient(verify=old) as http:
            assert (await http.get(f"https://localhost:{port}/healthz")).status_code == 200
    finally:
        stop.set()
        await task
