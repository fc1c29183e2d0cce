"""Content-Encoding: which encodings a request takes, and compressing a body for it. The UI's files
are compressed once and kept (gateway.static); the services' JSON answers as they pass (gateway.proxy)."""

from __future__ import annotations

import gzip

import brotli

from gateway.asgi import Scope, header

# Big files (Scalar's 4.8 MB) at a faster setting: the first /docs must not wait seconds.
BIG = 1 << 20
# A service's JSON answer is compressed on its way, once per request: brotli 4 and gzip 5 take
# about a tenth of a millisecond for Explore's 10 KB listing and keep three quarters of the
# saving of their slowest settings. Below MIN_JSON the headers would outweigh the saving.
MIN_JSON = 1024
JSON_TYPES = ("application/json", "application/problem+json")


def compress(body: bytes, encoding: str, *, fast: bool = False) -> bytes:
    """`fast`: for a body compressed on every request rather than once."""
    big = len(body) > BIG
    if encoding == "br":
        return bytes(brotli.compress(body, quality=4 if fast else 5 if big else 11))
    return gzip.compress(body, 5 if fast else 6 if big else 9, mtime=0)


def accepted(scope: Scope) -> list[str]:
    """The encodings this request takes, best first (br, then gzip); `q=0` refuses one."""
    value = header(scope, b"accept-encoding") or ""
    taken: dict[str, float] = {}
    for part in value.split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, num = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(num)
                except ValueError:
                    q = 0.0
        taken[name.strip().lower()] = q
    star = taken.get("*", 0.0)
    return [e for e in ("br", "gzip") if taken.get(e, star) > 0]


def encode_json(
    scope: Scope, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """A service's whole JSON answer, compressed when the request takes an encoding. Left as it
    is: small bodies, other types, an answer with an ETag (its validator names these bytes) or
    already encoded."""
    names = {k.lower(): v for k, v in headers}
    kind = names.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1")
    if (
        len(body) < MIN_JSON
        or status in (204, 206, 304)
        or kind not in JSON_TYPES
        or b"etag" in names
        or b"content-encoding" in names
    ):
        return headers, body
    vary = [(b"vary", b"Accept-Encoding")]
    encoding = next(iter(accepted(scope)), None)
    if encoding is None:
        return headers + vary, body
    packed = compress(body, encoding, fast=True)
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return kept + vary + [
        (b"content-encoding", encoding.encode()),
        (b"content-length", str(len(packed)).encode()),
    ], packed
