"""The one PNG chunk walker: it reads a real SillyTavern card, writes a card's text back, and
strips a card's text as media metadata with the pixels unchanged (other metadata chunks:
tests/generation_worker/media/test_strip.py)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from chassis import png
from generation_worker.media.strip import strip_png

SERAPHINA = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "cards" / "seraphina_v2.png"
needs_card = pytest.mark.skipif(
    not SERAPHINA.exists(), reason="needs ../shared/fixtures (not in a fresh clone)"
)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA").tobytes()


def kinds(data: bytes) -> list[bytes]:
    return [kind for kind, _ in png.chunks(data)]


@needs_card
def test_reads_a_real_card() -> None:
    card = SERAPHINA.read_bytes()
    assert png.is_png(card)
    chara = json.loads(base64.b64decode(png.text_chunks(card)["chara"]))
    assert chara["spec"] == "chara_card_v2" and chara["data"]["name"] == "Seraphina"


@needs_card
def test_strips_a_cards_text_and_keeps_its_pixels() -> None:
    card = SERAPHINA.read_bytes()
    cleaned = strip_png(card)
    assert b"tEXt" in kinds(card) and b"tEXt" not in kinds(cleaned)
    assert png.text_chunks(cleaned) == {}
    assert pixels(cleaned) == pixels(card)


def test_writes_a_cards_text_back() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    written = png.with_text(out.getvalue(), {"chara": "e30="})
    assert png.text_chunks(written) == {"chara": b"e30="}
    replaced = png.with_text(written, {"ccv3": "e30="}, drop=frozenset({"chara"}))
    assert png.text_chunks(replaced) == {"ccv3": b"e30="}
    assert pixels(replaced) == pixels(out.getvalue())


def test_a_damaged_png_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    data = bytearray(out.getvalue())
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    for damaged in (bytes(data), out.getvalue()[:-5], b"not a png"):
        with pytest.raises(png.PngError):
            list(png.chunks(damaged))
        with pytest.raises(ValueError):
            strip_png(damaged)
