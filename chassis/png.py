"""PNG chunks: the one walker, for the `tEXt` chunks that carry character cards and for
metadata stripping.

A PNG is the 8-byte signature then chunks of `length (4) · type (4) · data · CRC-32 (4)`;
a `tEXt` chunk's data is `keyword (Latin-1) · NUL · text`. Walk the chunks (checking
lengths and CRCs), read text by keyword, write a copy with some text chunks replaced
or with only some chunk types kept, every kept chunk byte for byte.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_CHUNK = 2**31 - 1


class PngError(ValueError):
    pass


def is_png(data: bytes) -> bool:
    return data.startswith(SIGNATURE)


def chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield `(type, data)` of every chunk up to IEND; PngError when the file is damaged."""
    if not is_png(data):
        raise PngError("not a PNG file (bad signature)")
    pos = len(SIGNATURE)
    first = True
    while True:
        if pos + 8 > len(data):
            raise PngError("PNG ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if length > _MAX_CHUNK or pos + 12 + length > len(data):
            raise PngError(f"PNG chunk {kind!r} runs past the end of the file")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise PngError(f"PNG chunk {kind!r} has a bad CRC")
        if first and kind != b"IHDR":
            raise PngError("PNG does not start with IHDR")
        first = False
        yield kind, body
        pos += 12 + length
        if kind == b"IEND":
            return


def text_chunks(data: bytes) -> dict[str, bytes]:
    """Keyword → text of each `tEXt` chunk (the first one wins when a keyword repeats)."""
    found: dict[str, bytes] = {}
    for kind, body in chunks(data):
        if kind != b"tEXt":
            continue
        keyword, sep, text = body.partition(b"\0")
        if not sep:
            raise PngError("PNG tEXt chunk without a keyword separator")
        found.setdefault(keyword.decode("latin-1"), text)
    return found


def chunk(kind: bytes, body: bytes) -> bytes:
    """One chunk's bytes: length, type, data, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_text(data: bytes, texts: Mapping[str, str], *, drop: frozenset[str] = frozenset()) -> bytes:
    """A copy of `data` without the tEXt chunks named in `drop` or `texts`, and with `texts`
    added before IEND (text must be Latin-1: cards put base64 there)."""
    remove = drop | frozenset(texts)
    out = bytearray(SIGNATURE)
    for kind, body in chunks(data):
        if kind == b"tEXt" and body.partition(b"\0")[0].decode("latin-1") in remove:
            continue
        if kind == b"IEND":
            for keyword, text in texts.items():
                out += chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))
        out += chunk(kind, body)
    return bytes(out)


def keeping(data: bytes, kinds: frozenset[bytes]) -> bytes:
    """A copy of `data` with only the chunks whose type is in `kinds` (IHDR and IEND always)."""
    out = bytearray(SIGNATURE)
    for kind, body in chunks(data):
        if kind in kinds or kind in (b"IHDR", b"IEND"):
            out += chunk(kind, body)
    return bytes(out)
