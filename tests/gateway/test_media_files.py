"""`/files/…`: local media served by the gateway under signed, expiring URLs, with Range,
If-Range, conditional GETs and HEAD."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from chassis.settings import Settings
from chassis.storage import LocalStorage, local_root, url_signer
from chassis.storage.signing import UrlSigner, url_secret
from gateway.app import create_app as create_gateway
from tests.support.mesh import Mesh, client
from tests.support.ports import free_port

DATA = os.urandom(300_000)


@pytest.fixture
async def served(stack: Mesh, tmp_path: Path) -> tuple[str, LocalStorage, Settings]:
    port = free_port()
    settings = Settings.from_env(
        {},
        nats_url=stack.settings.nats_url,
        data_dir=str(tmp_path / "data"),
        public_url=f"http://127.0.0.1:{port}",
        media_url_ttl=600,
    )
    storage = LocalStorage(local_root(settings), url_signer(settings), settings.public_url)
    await storage.put_bytes("m1/optimized.mp4", DATA, "video/mp4")
    gateway = await stack.server(create_gateway(settings), port=port)
    url = await storage.url("m1/optimized.mp4")
    assert url.startswith(f"{gateway.url}/files/m1/optimized.mp4?")
    return url, storage, settings


async def test_signed_url_serves_the_file(served: tuple[str, LocalStorage, Settings]) -> None:
    url, _, _ = served
    async with client(url) as http:
        r = await http.get(url)
        assert r.status_code == 200 and r.content == DATA
        assert r.headers["content-type"] == "video/mp4"
        assert r.headers["accept-ranges"] == "bytes"
        assert int(r.headers["content-length"]) == len(DATA)
        assert r.headers["cache-control"].startswith("private, max-age=")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        etag = r.headers["etag"]
        again = await http.get(url, headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        head = await http.head(url)
        assert (
            head.status_code == 200
            and head.content == b""
            and head.headers["content-length"] == str(len(DATA))
        )


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, len(DATA) - 1),
     ("bytes=-500", len(DATA) - 500, len(DATA) - 1), ("bytes=299990-400000", 299990, len(DATA) - 1)],
)  # fmt: skip
async def test_range_requests_return_206(
    served: tuple[str, LocalStorage, Settings], header: str, start: int, end: int
) -> None:
    url, _, _ = served
    async with client(url) as http:
        r = await http.get(url, headers={"range": header})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert r.content == DATA[start : end + 1]
    assert int(r.headers["content-length"]) == end - start + 1


async def test_range_edge_cases(served: tuple[str, LocalStorage, Settings]) -> None:
    url, _, _ = served
    async with client(url) as http:
        for past_the_end in (f"bytes={len(DATA)}-", "bytes=-0", f"bytes=0-1,{len(DATA) + 5}-"):
            r = await http.get(url, headers={"range": past_the_end})
            assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(DATA)}"
            assert r.json()["error"]["code"] == "range_not_satisfiable", past_the_end
        # Ranges that make no sense get the whole file (RFC 9110 allows it; unknown units must).
        for header in ("bytes=9-3", "items=0-1", "bytes=abc"):
            r = await http.get(url, headers={"range": header})
            assert r.status_code == 200 and r.content == DATA, header


async def test_if_range_serves_the_range_only_for_the_current_file(
    served: tuple[str, LocalStorage, Settings],
) -> None:
    url, _, _ = served
    async with client(url) as http:
        whole = await http.get(url)
        for validator in (whole.headers["etag"], whole.headers["last-modified"]):
            r = await http.get(url, headers={"range": "bytes=0-9", "if-range": validator})
            assert r.status_code == 206 and r.content == DATA[:10], validator
        # A stale validator: the file changed since the client's part, so the whole file.
        for stale in ('"stale"', "Thu, 01 Jan 1970 00:00:00 GMT"):
            r = await http.get(url, headers={"range": "bytes=0-9", "if-range": stale})
            assert r.status_code == 200 and r.content == DATA, stale
        # Stale, the range is not looked at: even one past the end gets the whole file.
        r = await http.get(url, headers={"range": f"bytes={len(DATA)}-", "if-range": '"stale"'})
        assert r.status_code == 200 and r.content == DATA


async def test_several_ranges_come_as_multipart_byteranges(
    served: tuple[str, LocalStorage, Settings],
) -> None:
    url, _, _ = served
    async with client(url) as http:
        r = await http.get(url, headers={"range": "bytes=0-1,1000-1009"})
    assert r.status_code == 206
    kind, _, boundary = r.headers["content-type"].partition("; boundary=")
    assert kind == "multipart/byteranges"
    assert int(r.headers["content-length"]) == len(r.content)
    parts = r.content.split(f"--{boundary}".encode())
    assert parts[0] == b"" and parts[-1] == b"--"
    found = []
    for part in parts[1:-1]:
        head, _, body = part.partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().strip().splitlines())
        assert fields["Content-Type"] == "video/mp4"
        found.append((fields["Content-Range"], body.removesuffix(b"\r\n")))
    assert found == [
        (f"bytes 0-1/{len(DATA)}", DATA[0:2]),
        (f"bytes 1000-1009/{len(DATA)}", DATA[1000:1010]),
    ]


async def test_head_answers_headers_only(served: tuple[str, LocalStorage, Settings]) -> None:
    url, _, _ = served
    async with client(url) as http:
        r = await http.head(url, headers={"range": "bytes=100-199"})
        assert r.status_code == 206 and r.content == b""
        assert r.headers["content-range"] == f"bytes 100-199/{len(DATA)}"
        assert r.headers["content-length"] == "100" and r.headers["content-type"] == "video/mp4"
        whole = await http.head(url)
        not_modified = await http.get(url, headers={"if-modified-since": whole.headers["last-modified"]})
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == whole.headers["etag"]
        assert not_modified.headers["cache-control"].startswith("private, max-age=")


async def test_tampered_or_expired_urls_are_refused(served: tuple[str, LocalStorage, Settings]) -> None:
    url, storage, settings = served
    await storage.put_bytes("m1/original.mp4", b"secret original", "video/mp4")
    base, _, query = url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    async with client(url) as http:
        other = await http.get(base.replace("optimized", "original") + "?" + query)
        assert other.status_code == 403 and other.json()["error"]["code"] == "bad_signature"
        later = await http.get(f"{base}?exp={int(params['exp']) + 3600}&sig={params['sig']}")
        assert later.status_code == 403
        assert (await http.get(base)).status_code == 403
        assert (await http.get(f"{base}?exp={params['exp']}&sig=AAAA")).status_code == 403
        past = UrlSigner(url_secret(settings), 600, clock=lambda: time.time() - 3600)
        expired = await http.get(f"{base}?{past.query('m1/optimized.mp4')}")
        assert expired.status_code == 403 and expired.json()["error"]["code"] == "url_expired"
        assert (await http.post(url)).status_code == 405


async def test_missing_files_and_bad_paths_are_404(served: tuple[str, LocalStorage, Settings]) -> None:
    url, storage, _ = served
    origin = url.split("/files/")[0]
    signer = storage.signer
    async with httpx.AsyncClient(base_url=origin) as http:
        assert (await http.get(f"/files/m1/gone.mp4?{signer.query('m1/gone.mp4')}")).status_code == 404
        assert (await http.get(f"/files/m1?{signer.query('m1')}")).status_code == 404
        traversal = await http.get(f"/files/m1/%2e%2e/secret?{signer.query('m1/../secret')}")
        assert traversal.status_code == 404
