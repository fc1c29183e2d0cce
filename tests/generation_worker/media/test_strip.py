"""Lossless metadata removal: identifying metadata goes, pixels and colour data stay."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from generation_worker.media.strip import strip_gif, strip_jpeg, strip_png, strip_webp
from tests.support.media import GPS_LATITUDE, exif_has_gps, noisy_image


def exif() -> bytes:
    e = Image.Exif()
    e[0x010F] = "TestCam"
    e[0x8825] = {1: "N", 2: GPS_LATITUDE}
    return e.tobytes()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA").tobytes()


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg(progressive: bool) -> None:
    out = io.BytesIO()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPSLatitude</x:xmpmeta>'
    noisy_image(320, 240).save(
        out, "JPEG", exif=exif(), progressive=progressive, icc_profile=b"", comment=b"secret", xmp=xmp
    )
    data = out.getvalue() + b"trailing MPF image with its own EXIF"
    cleaned = strip_jpeg(data)
    assert exif_has_gps(data) and not exif_has_gps(cleaned)
    for leak in (b"TestCam", b"secret", b"GPSLatitude", b"trailing"):
        assert leak not in cleaned
    assert pixels(cleaned) == pixels(data)


def test_jpeg_keeps_the_colour_profile() -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    noisy_image(64, 64).save(out, "JPEG", icc_profile=profile, exif=exif())
    with Image.open(io.BytesIO(strip_jpeg(out.getvalue()))) as image:
        assert image.info.get("icc_profile") == profile


def test_png() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "my home")
    info.add_itxt("XML:com.adobe.xmp", "GPSLatitude", zip=True)
    out = io.BytesIO()
    noisy_image(100, 80).save(out, "PNG", pnginfo=info, exif=exif())
    data = out.getvalue()
    cleaned = strip_png(data)
    assert b"my home" not in cleaned and b"eXIf" not in cleaned and b"iTXt" not in cleaned
    assert pixels(cleaned) == pixels(data)


def test_webp() -> None:
    out = io.BytesIO()
    noisy_image(100, 80).save(out, "WEBP", exif=exif(), xmp=b"<xmp>GPSLatitude</xmp>", lossless=True)
    data = out.getvalue()
    assert b"EXIF" in data and b"XMP " in data
    cleaned = strip_webp(data)
    assert b"EXIF" not in cleaned and b"XMP " not in cleaned and b"TestCam" not in cleaned
    assert pixels(cleaned) == pixels(data)
    # The container stays consistent: Pillow reads it and finds no metadata flags.
    with Image.open(io.BytesIO(cleaned)) as image:
        assert not image.getexif() and "xmp" not in image.info


def test_gif_keeps_animation_drops_comments() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], loop=0, duration=50, comment=b"secret"
    )
    data = out.getvalue()
    cleaned = strip_gif(data)
    assert b"secret" not in cleaned and b"NETSCAPE2.0" in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert getattr(image, "n_frames", 1) == 3 and image.info.get("loop") == 0


@pytest.mark.parametrize("strip", [strip_jpeg, strip_png, strip_webp, strip_gif])
def test_foreign_or_broken_input_raises(strip: object) -> None:
    assert callable(strip)
    with pytest.raises(ValueError):
        strip(b"definitely not an image")
