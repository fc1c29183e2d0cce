"""Image variants: decode under a pixel cap, apply the EXIF orientation, drop every bit of
metadata, and encode `optimized` (fits 1600 px) and `thumbnail` (fits 256 px) as WebP beside a
cleaned `original`. CPU-bound and synchronous: callers run each step in a thread.

JPEGs are decoded at a reduced scale (`Image.draft`) when only the smaller variants need the
pixels, which makes a 12-megapixel photo several times cheaper to decode."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from generation_worker.media.errors import MediaRejected
from generation_worker.media.strip import STRIPPERS

OPTIMIZED_MAX = 1600
THUMBNAIL_MAX = 256
WEBP_QUALITY = 82
THUMBNAIL_QUALITY = 80
ORIGINAL_JPEG_QUALITY = 92
ORIENTATION = 0x0112
FORMAT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}

_SRGB = ImageCms.createProfile("sRGB")


@dataclass
class Encoded:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass
class Decoded:
    """The upright image, at least as large as the optimized variant needs."""

    image: Image.Image
    # The full size, upright (what the original shows).
    width: int
    height: int
    content_type: str
    orientation: int
    animated: bool


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """The size that fits in `box`×`box` keeping the aspect ratio (never enlarged)."""
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def open_checked(path: Path, max_pixels: int) -> Image.Image:
    """Open (reads the header only) and refuse anything over the pixel cap before decoding."""
    try:
        image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard fired first (its limit is above ours); it names the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" is {int(found.group(1)) / 1e6:.0f} megapixels;" if found else " has too many pixels;"
        raise MediaRejected(
            f"the image{size} at most {max_pixels / 1e6:.0f} megapixels are accepted"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise MediaRejected("the file is not a readable image") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise MediaRejected(
            f"the image is {width}×{height} ({width * height / 1e6:.0f} megapixels);"
            f" at most {max_pixels / 1e6:.0f} megapixels are accepted"
        )
    if image.format not in FORMAT_TYPES:
        image.close()
        raise MediaRejected(f"{image.format} images are not supported")
    return image


def _normalise(image: Image.Image) -> Image.Image:
    """RGB or RGBA in sRGB, with no metadata left in `info`."""
    icc = image.info.get("icc_profile")
    alpha = "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info)
    wanted = "RGBA" if alpha else "RGB"
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=wanted)
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # A broken profile: keep the pixels as they are.
    if image.mode != wanted:
        image = image.convert(wanted)
    image.info = {}
    return image


def decode(path: Path, max_pixels: int, *, full: bool = False) -> Decoded:
    """Decode the first frame; `full=False` lets a JPEG decode at the scale the variants need."""
    image = open_checked(path, max_pixels)
    try:
        width, height = image.size
        content_type = FORMAT_TYPES[str(image.format)]
        animated = bool(getattr(image, "is_animated", False))
        try:
            orientation = int(image.getexif().get(ORIENTATION, 1) or 1)
        except (OSError, ValueError, SyntaxError):
            orientation = 1
        if image.format == "JPEG" and not full:
            image.draft("RGB", fit(width, height, OPTIMIZED_MAX))
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise MediaRejected(f"the image is damaged or truncated ({exc})") from None
        upright = ImageOps.exif_transpose(image) or image
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        return Decoded(_normalise(upright), width, height, content_type, orientation, animated)
    finally:
        image.close()


def _webp(image: Image.Image, box: int, quality: int) -> Encoded:
    size = fit(image.width, image.height, box)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=quality, method=4)
    return Encoded(out.getvalue(), "image/webp", image.width, image.height)


def optimized(decoded: Decoded) -> tuple[Encoded, Image.Image]:
    """The optimized variant, and the resized image to make the thumbnail from."""
    image = decoded.image
    size = fit(decoded.width, decoded.height, OPTIMIZED_MAX)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return Encoded(out.getvalue(), "image/webp", image.width, image.height), image


def thumbnail(image: Image.Image) -> Encoded:
    return _webp(image, THUMBNAIL_MAX, THUMBNAIL_QUALITY)


def clean_original(path: Path, decoded: Decoded, max_pixels: int) -> Encoded:
    """The original without metadata: bytes kept as they are where the pixels need no change,
    re-encoded upright when the EXIF orientation had to be applied."""
    data = path.read_bytes()
    if decoded.orientation == 1:
        try:
            cleaned = STRIPPERS[decoded.content_type](data)
            return Encoded(cleaned, decoded.content_type, decoded.width, decoded.height)
        except ValueError:
            pass  # Unusual structure: re-encode below.
    full = (
        decode(path, max_pixels, full=True)
        if decoded.image.size != (decoded.width, decoded.height)
        else decoded
    )
    out = io.BytesIO()
    fmt = {v: k for k, v in FORMAT_TYPES.items()}[decoded.content_type]
    image = full.image
    if fmt == "JPEG":
        image = image.convert("RGB")
        image.save(out, "JPEG", quality=ORIGINAL_JPEG_QUALITY, optimize=True)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=ORIGINAL_JPEG_QUALITY)
    else:
        image.save(out, fmt)
    return Encoded(out.getvalue(), decoded.content_type, image.width, image.height)
