"""The type comes from the bytes: each accepted signature, and look-alikes refused."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from generation_worker.media.ffmpeg import ffmpeg_exe
from media_svc.sniff import SNIFF_BYTES, sniff
from tests.support.media import make_mp4


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_images(fmt: str, content_type: str) -> None:
    found = sniff(image_bytes(fmt)[:SNIFF_BYTES])
    assert found is not None and found.content_type == content_type and found.kind == "image"


def test_videos(tmp_path: Path) -> None:
    mp4 = make_mp4(tmp_path / "a.mp4", seconds=0.2, size="64x64", audio=False)
    found = sniff(mp4.read_bytes()[:SNIFF_BYTES])
    assert found is not None and (found.content_type, found.ext) == ("video/mp4", "mp4")
    for ext, content_type, codec in (
        ("mov", "video/quicktime", "libx264"),
        ("webm", "video/webm", "libvpx-vp9"),
    ):
        path = tmp_path / f"a.{ext}"
        subprocess.run(
            [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=5",
             "-t", "0.4", "-c:v", codec, str(path)],
            check=True,
        )  # fmt: skip
        found = sniff(path.read_bytes()[:SNIFF_BYTES])
        assert found is not None and found.content_type == content_type and found.kind == "video"


@pytest.mark.parametrize(
    "head",
    [
        b"just text, named photo.jpg",
        b"",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",  # a HEIC photo: not accepted
        b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00",  # audio only
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska",  # MKV is not WebM
        b"BM\x36\x00\x00\x00",  # BMP
        b"%PDF-1.7",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"<svg xmlns='http://www.w3.org/2000/svg'>",
    ],
)
def test_everything_else_is_refused(head: bytes) -> None:
    assert sniff(head) is None
