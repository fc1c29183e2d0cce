"""`/files/<key>?exp=…&sig=…`: the gateway serves local media storage under HMAC-signed,
expiring URLs (issued by media_svc and the worker), with HTTP Range requests (206) so video
players can seek, conditional GETs (ETag), and nothing else: no listing, no signature, no file."""

from __future__ import annotations

import asyncio
import os
import time
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import parse_qs

from chassis.errors import Forbidden, HTTPError, MethodNotAllowed, NotFound
from chassis.settings import Settings
from chassis.storage import InvalidKey, check_key, content_type_for, local_root, url_signer
from chassis.storage.local import FILES_PREFIX
from chassis.storage.signing import SignatureInvalid, UrlExpired, UrlSigner
from gateway.asgi import Receive, Scope, Send, header

if TYPE_CHECKING:
    from gateway.app import Gateway

CHUNK = 256 * 1024


class RangeNotSatisfiable(HTTPError):
    status = 416
    code = "range_not_satisfiable"


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, inclusive; None to answer with the whole file (no range,
    a malformed one, or several, which RFC 9110 lets a server ignore)."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeNotSatisfiable("empty range", headers={"content-range": f"bytes */{size}"})
        return max(0, size - count), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"the file has {size} bytes", headers={"content-range": f"bytes */{size}"})
    return start, min(end, size - 1)


class MediaFiles:
    prefixes: tuple[str, ...] = (FILES_PREFIX.rstrip("/"),)

    def __init__(self, settings: Settings, root: Path | None = None) -> None:
        self.settings = settings
        self.root = root or local_root(settings)
        self._signer: UrlSigner | None = None

    @property
    def signer(self) -> UrlSigner:
        if self._signer is None:
            self._signer = url_signer(self.settings)
        return self._signer

    async def start(self, gateway: Gateway) -> None:
        # Read (or create) the signing secret now, not on the first request.
        await asyncio.to_thread(lambda: self.signer)

    async def stop(self) -> None:
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed("media files are read with GET", headers={"allow": "GET, HEAD"})
        key = scope["path"][len(FILES_PREFIX) :]
        try:
            check_key(key)
        except InvalidKey:
            raise NotFound("no such file") from None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            expires = self.signer.verify(key, _one(query, "exp"), _one(query, "sig"))
        except UrlExpired:
            raise Forbidden(
                "this link has expired; ask the API for a fresh one", code="url_expired"
            ) from None
        except SignatureInvalid:
            raise Forbidden("this link is not valid", code="bad_signature") from None
        path = self.root / key
        try:
            f = await asyncio.to_thread(open, path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound("no such file") from None
        try:
            st = os.fstat(f.fileno())
            await self._respond(scope, send, f, st, expires)
        finally:
            f.close()

    async def _respond(self, scope: Scope, send: Send, f: BinaryIO, st: os.stat_result, expires: int) -> None:
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        headers = [
            (b"content-type", content_type_for(scope["path"]).encode()),
            (b"accept-ranges", b"bytes"),
            (b"etag", etag.encode()),
            (b"last-modified", formatdate(st.st_mtime, usegmt=True).encode()),
            # Cacheable for as long as the link is valid, by the browser only.
            (b"cache-control", f"private, max-age={max(0, int(expires - time.time()))}".encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        if (match := header(scope, b"if-none-match")) and etag in [t.strip() for t in match.split(",")]:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        status, start, end = 200, 0, size - 1
        wanted = header(scope, b"range")
        if_range = header(scope, b"if-range")
        if wanted and (if_range is None or if_range.strip() == etag):
            found = parse_range(wanted, size)
            if found is not None:
                status, (start, end) = 206, found
                headers.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
        length = max(0, end - start + 1)
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope["method"] == "HEAD" or length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        await asyncio.to_thread(f.seek, start)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
        if left > 0:  # the file shrank while being sent
            await send({"type": "http.response.body", "body": b""})


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None
