"""Lossless metadata removal for the kept original: the pixels stay bit for bit, what can
identify a person goes (EXIF with GPS, XMP, IPTC, comments, embedded previews, text chunks).
Colour information (ICC profiles, gamma) stays so the image looks the same.

Each function takes the file's bytes and returns the cleaned bytes, or raises ValueError when
the structure is not what the format says (the caller then re-encodes instead)."""

from __future__ import annotations

import struct

from chassis import png

# JPEG markers without a length field.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_SOS, _EOI, _COM = 0xDA, 0xD9, 0xFE
_APP0, _APP2, _APP14 = 0xE0, 0xE2, 0xEE


def _keep_jpeg_segment(marker: int, payload: bytes) -> bool:
    if marker == _COM:
        return False
    if 0xE0 <= marker <= 0xEF:
        if marker == _APP0:
            return payload.startswith(b"JFIF\x00")  # JFXX carries a thumbnail
        if marker == _APP2:
            return payload.startswith(b"ICC_PROFILE\x00")  # not MPF (embedded previews)
        return marker == _APP14  # Adobe: tells decoders the colour transform
    return True


def strip_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    out = bytearray(b"\xff\xd8")
    pos = 2
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError("JPEG marker expected")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise ValueError("JPEG ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            out += b"\xff\xd9"
            return bytes(out)  # anything after (MPF secondary images) is dropped
        if marker in _STANDALONE:
            out += bytes((0xFF, marker))
            continue
        if pos + 2 > n:
            raise ValueError("JPEG segment without a length")
        length = struct.unpack(">H", data[pos : pos + 2])[0]
        end = pos + length
        if length < 2 or end > n:
            raise ValueError("JPEG segment overruns the file")
        if _keep_jpeg_segment(marker, data[pos + 2 : end]):
            out += bytes((0xFF, marker))
            out += data[pos:end]
        pos = end
        if marker == _SOS:
            # Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart.
            scan = pos
            while True:
                ff = data.find(b"\xff", scan)
                if ff == -1 or ff + 1 >= n:
                    raise ValueError("JPEG without an end")
                follower = data[ff + 1]
                if follower == 0x00 or 0xD0 <= follower <= 0xD7 or follower == 0xFF:
                    scan = ff + (2 if follower != 0xFF else 1)
                    continue
                out += data[pos:ff]
                pos = ff
                break
    raise ValueError("JPEG without an end")


_PNG_KEEP = frozenset({
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCv", b"cLLI", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT",
})  # fmt: skip


def strip_png(data: bytes) -> bytes:
    return png.keeping(data, _PNG_KEEP)  # PngError is a ValueError


_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04
_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}


def strip_webp(data: bytes) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP")
    body = bytearray()
    pos = 12
    end_of_riff = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while pos + 8 <= end_of_riff:
        kind = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > end_of_riff:
            raise ValueError("WebP chunk overruns the file")
        if kind in _WEBP_KEEP:
            chunk = bytearray(data[pos : min(end, end_of_riff)])
            if kind == b"VP8X" and size >= 1:
                chunk[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
            body += chunk
        pos = end
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + bytes(body)


_GIF_LOOP_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    """Position just after the sub-block chain starting at `pos`."""
    while True:
        if pos >= len(data):
            raise ValueError("GIF ends inside a block")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def strip_gif(data: bytes) -> bytes:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise ValueError("not a GIF")
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else 0)
    out = bytearray(data[:pos])
    while pos < len(data):
        introducer = data[pos]
        if introducer == 0x3B:
            out += b"\x3b"
            return bytes(out)
        if introducer == 0x21:
            if pos + 1 >= len(data):
                raise ValueError("GIF ends inside an extension")
            label = data[pos + 1]
            end = _gif_sub_blocks(data, pos + 2)
            keep = label in (0xF9, 0x01) or (label == 0xFF and data[pos + 3 : pos + 14] in _GIF_LOOP_APPS)
            if keep:
                out += data[pos:end]
            pos = end
        elif introducer == 0x2C:
            if pos + 10 > len(data):
                raise ValueError("GIF ends inside an image descriptor")
            local = data[pos + 9]
            start = pos + 10 + (3 * 2 ** ((local & 0x07) + 1) if local & 0x80 else 0)
            end = _gif_sub_blocks(data, start + 1)  # after the LZW minimum code size
            out += data[pos:end]
            pos = end
        else:
            raise ValueError("unknown GIF block")
    raise ValueError("GIF without a trailer")


STRIPPERS = {
    "image/jpeg": strip_jpeg,
    "image/png": strip_png,
    "image/webp": strip_webp,
    "image/gif": strip_gif,
}
