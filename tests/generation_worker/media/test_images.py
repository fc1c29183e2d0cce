"""Image variants: sizes, orientation, metadata, formats, the pixel cap."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from generation_worker.media import images
from generation_worker.media.errors import MediaRejected
from tests.support.media import exif_has_gps, jpeg_with_gps, noisy_image, png_bomb

CAP = 80_000_000


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def variants(path: Path) -> tuple[images.Decoded, images.Encoded, images.Encoded, images.Encoded]:
    decoded = images.decode(path, CAP)
    optimized, smaller = images.optimized(decoded)
    return decoded, optimized, images.thumbnail(smaller), images.clean_original(path, decoded, CAP)


def opened(encoded: images.Encoded) -> Image.Image:
    image = Image.open(io.BytesIO(encoded.data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("size", "optimized", "thumbnail"),
    [((4000, 3000), (1600, 1200), (256, 192)), ((900, 2000), (720, 1600), (115, 256)),
     ((200, 100), (200, 100), (200, 100))],
)  # fmt: skip
def test_variant_sizes_fit_and_never_enlarge(
    tmp_path: Path, size: tuple[int, int], optimized: tuple[int, int], thumbnail: tuple[int, int]
) -> None:
    path = write(tmp_path, "a.jpg", jpeg_with_gps(*size))
    decoded, opt, thumb, original = variants(path)
    assert (decoded.width, decoded.height) == size
    assert (opt.width, opt.height) == optimized and opened(opt).size == optimized
    assert (thumb.width, thumb.height) == thumbnail and opened(thumb).format == "WEBP"
    assert opened(original).size == size and opened(original).format == "JPEG"


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path: Path) -> None:
    path = write(tmp_path, "big.jpg", jpeg_with_gps(4000, 3000))
    decoded = images.decode(path, CAP)
    assert decoded.image.size == (2000, 1500)  # 1/2 scale still covers 1600×1200
    assert (decoded.width, decoded.height) == (4000, 3000)


# How a camera stores an upright picture for each EXIF orientation (the inverse of what a
# viewer applies, per the EXIF specification).
STORED_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    # Upright: red on the left, blue on the right, a green band at the top.
    upright = Image.new("RGB", (400, 200), (220, 0, 0))
    upright.paste((0, 0, 220), (200, 0, 400, 200))
    upright.paste((0, 200, 0), (0, 0, 400, 40))
    transpose = STORED_AS[orientation]
    stored = upright if transpose is None else upright.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=95, exif=exif.tobytes())
    decoded, opt, _, original = variants(write(tmp_path, "o.jpg", out.getvalue()))
    assert (decoded.width, decoded.height) == (400, 200)
    for encoded in (opt, original):
        shown = opened(encoded).convert("RGB")
        assert shown.size == (400, 200)
        assert shown.getexif().get(0x0112) in (None, 1)
        left, right, top = shown.getpixel((100, 120)), shown.getpixel((300, 120)), shown.getpixel((200, 10))
        assert isinstance(left, tuple) and isinstance(right, tuple) and isinstance(top, tuple)
        assert left[0] > 150 and right[2] > 150 and top[1] > 150, (orientation, left, right, top)


def test_orientation_matches_pillows_transpose(tmp_path: Path) -> None:
    path = write(tmp_path, "o.jpg", jpeg_with_gps(300, 200, orientation=6))
    _, opt, _, original = variants(path)
    with Image.open(path) as source:
        expected = source.transpose(Image.Transpose.ROTATE_270).convert("RGB")
    got = opened(original).convert("RGB")
    assert got.size == expected.size
    # Re-encoded at high quality: pixels close to Pillow's own rotation.
    diff = sum(abs(a - b) for a, b in zip(got.tobytes()[:30000], expected.tobytes()[:30000], strict=True))
    assert diff / 30000 < 4


def test_all_metadata_is_stripped(tmp_path: Path) -> None:
    data = jpeg_with_gps(800, 600)
    assert exif_has_gps(data)
    _, opt, thumb, original = variants(write(tmp_path, "g.jpg", data))
    for encoded in (opt, thumb, original):
        assert not exif_has_gps(encoded.data) and b"TestCam" not in encoded.data
        assert not opened(encoded).getexif()


def test_clean_original_keeps_the_jpeg_pixels_bit_for_bit(tmp_path: Path) -> None:
    data = jpeg_with_gps(640, 480)
    path = write(tmp_path, "p.jpg", data)
    decoded = images.decode(path, CAP)
    original = images.clean_original(path, decoded, CAP)
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(original.data)) as b:
        assert a.tobytes() == b.tobytes()


def test_png_with_transparency_and_text(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    image = Image.new("RGBA", (300, 300), (10, 200, 10, 0))
    image.paste((200, 10, 10, 255), (50, 50, 250, 250))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at my home address")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    decoded, opt, thumb, original = variants(write(tmp_path, "t.png", out.getvalue()))
    corner = opened(opt).getpixel((0, 0))
    assert opened(opt).mode == "RGBA" and isinstance(corner, tuple) and corner[3] == 0
    assert b"home address" not in original.data and opened(original).tobytes() == image.tobytes()
    assert decoded.content_type == "image/png"


def test_animated_gif_keeps_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (120, 80), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, comment=b"secret"
    )
    decoded, opt, thumb, original = variants(write(tmp_path, "a.gif", out.getvalue()))
    assert decoded.animated
    red = opened(thumb).convert("RGB").getpixel((60, 40))
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 40
    kept = opened(original)
    assert getattr(kept, "n_frames", 1) == 3 and b"secret" not in original.data


def test_cmyk_and_icc_profiles_become_srgb(tmp_path: Path) -> None:
    out = io.BytesIO()
    noisy_image(400, 300).convert("CMYK").save(out, "JPEG")
    _, opt, _, _ = variants(write(tmp_path, "c.jpg", out.getvalue()))
    assert opened(opt).mode == "RGB"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))
    out = io.BytesIO()
    noisy_image(200, 200).save(out, "PNG", icc_profile=profile.tobytes())
    _, opt, _, _ = variants(write(tmp_path, "icc.png", out.getvalue()))
    assert "icc_profile" not in opened(opt).info


def test_pixel_cap_refuses_before_decoding(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.png", png_bomb(20_000, 20_000))
    with pytest.raises(MediaRejected, match="400 megapixels"):
        images.decode(path, CAP)
    # Over our cap, under Pillow's own guard: our check names the size.
    mid = write(tmp_path, "mid.png", png_bomb(9_500, 8_800))
    with pytest.raises(MediaRejected, match="9500×8800"):
        images.decode(mid, CAP)


def test_damaged_and_foreign_files_are_rejected(tmp_path: Path) -> None:
    data = jpeg_with_gps(800, 600)
    with pytest.raises(MediaRejected, match="truncated"):
        images.decode(write(tmp_path, "t.jpg", data[: len(data) // 3]), CAP)
    with pytest.raises(MediaRejected, match="not a readable image"):
        images.decode(write(tmp_path, "x.jpg", b"plain text"), CAP)
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "BMP")
    with pytest.raises(MediaRejected, match="not supported"):
        images.decode(write(tmp_path, "b.bmp", out.getvalue()), CAP)
