"""The type of an upload, decided from its first bytes (never its name or declared type)."""

from __future__ import annotations

from dataclasses import dataclass

from proto.media import MediaKind

# Enough for every signature below, including the EBML DocType of a WebM header.
SNIFF_BYTES = 64

# ISO base media file brands (the `ftyp` box): QuickTime, or MP4 and its relatives. HEIF and
# AVIF images and audio-only M4A share the box and are refused.
QUICKTIME_BRANDS = {b"qt  "}
MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71",
    b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"msnv", b"f4v ", b"3gp4", b"3gp5", b"3gp6",
    b"3g2a", b"NDAS", b"MSNV", b"XAVC", b"mmp4",
}  # fmt: skip
QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    kind: MediaKind
    ext: str


JPEG = Sniffed("image/jpeg", "image", "jpg")
PNG = Sniffed("image/png", "image", "png")
GIF = Sniffed("image/gif", "image", "gif")
WEBP = Sniffed("image/webp", "image", "webp")
MP4 = Sniffed("video/mp4", "video", "mp4")
MOV = Sniffed("video/quicktime", "video", "mov")
WEBM = Sniffed("video/webm", "video", "webm")
ALLOWED = ("image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/webm", "video/quicktime")


def sniff(head: bytes) -> Sniffed | None:
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in QUICKTIME_BRANDS:
            return MOV
        if brand in MP4_BRANDS:
            return MP4
        return None
    if head[:4] == b"\x1a\x45\xdf\xa3":
        # EBML: Matroska and WebM share it; the DocType element (0x4282) names which.
        doctype = head.find(b"\x42\x82")
        if doctype != -1 and head[doctype + 3 : doctype + 7] == b"webm":
            return WEBM
        return None
    if head[4:8] in QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return MOV
    return None
