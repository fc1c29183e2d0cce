"""`/files/<key>?exp=…&sig=…`: the gateway serves local media storage under HMAC-signed,
expiring URLs (issued by media_svc and the worker), and nothing else: no listing, no signature,
no file. Once the signature holds, Starlette's `FileResponse` answers (Range, multiple ranges,
If-Range, ETag/Last-Modified, HEAD) and its `StaticFiles` rule decides 304s."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import FileResponse, MalformedRangeHeader, Response
from starlette.responses import RangeNotSatisfiable as UnsatisfiableRange
from starlette.staticfiles import NotModifiedResponse, StaticFiles

from chassis.errors import Forbidden, HTTPError, MethodNotAllowed, NotFound
from chassis.settings import Settings
from chassis.storage import InvalidKey, check_key, content_type_for, local_root, url_signer
from chassis.storage.local import FILES_PREFIX
from chassis.storage.signing import SignatureInvalid, UrlExpired, UrlSigner
from gateway.asgi import Receive, Scope, Send

if TYPE_CHECKING:
    from gateway.app import Gateway

# Only its If-None-Match / If-Modified-Since rule is used: no directory, nothing served by it.
_CONDITIONS = StaticFiles(check_dir=False)


class RangeNotSatisfiable(HTTPError):
    status = 416
    code = "range_not_satisfiable"


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
            st = await asyncio.to_thread(os.stat, path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("no such file") from None
        if not stat.S_ISREG(st.st_mode):
            raise NotFound("no such file")
        file = FileResponse(
            path,
            stat_result=st,
            media_type=content_type_for(key),
            # Cacheable for as long as the link is valid, by the browser only.
            headers={"cache-control": f"private, max-age={max(0, int(expires - time.time()))}"},
        )
        response: Response = file
        if _CONDITIONS.is_not_modified(file.headers, Headers(scope=scope)):
            response = NotModifiedResponse(file.headers)
        else:
            scope = _range_checked(scope, file, st.st_size)
        await response(scope, receive, send)


def _range_checked(scope: Scope, file: FileResponse, size: int) -> Scope:
    """The request as `FileResponse` should see it. Starlette answers a malformed Range with a
    plain-text 400; RFC 9110 lets a server ignore it (and requires that for unknown units), so
    it is dropped and the whole file served. An unsatisfiable one gets our 416 error envelope.
    Both are decided by Starlette's own parser; a stale If-Range makes the Range moot."""
    headers = Headers(scope=scope)
    wanted = headers.get("range")
    if wanted is None:
        return scope
    if_range = headers.get("if-range")
    if if_range is not None and not file._should_use_range(if_range):
        return scope
    try:
        FileResponse._parse_range_header(wanted, size)
    except MalformedRangeHeader:
        return {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]}
    except UnsatisfiableRange:
        raise RangeNotSatisfiable(
            f"the file has {size} bytes", headers={"content-range": f"bytes */{size}"}
        ) from None
    return scope


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None
