"""The `procedural` image provider: generative art drawn with Pillow from the prompt and the
persona, with no model. The same prompt for the same persona always gives the same picture.

It says what it is: the result is labelled "procedural art" in its metadata and in a small
caption on the image itself. Colours come from words in the prompt (ocean, sunset, forest,
neon…), the composition (gradient, glowing circles, a flow field, the persona's sigil) from a
hash of the prompt and the persona. Progress is the layers drawn so far."""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import io
import math
import random
import re
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from generation_worker.media.providers.image import GeneratedImage, ImageRequest, OnFraction

NAME = "procedural"
MODEL = "procedural-v1"
LABEL = "Procedural art drawn with Pillow from the prompt; no AI model was used"
CAPTION = "procedural art · no AI model"

HUES = {
    "red": 0, "crimson": 350, "blood": 355, "fire": 12, "flame": 15, "sunset": 20, "orange": 28,
    "autumn": 26, "amber": 38, "desert": 36, "sand": 40, "gold": 45, "golden": 45, "yellow": 54,
    "sun": 48, "lemon": 58, "lime": 85, "spring": 95, "forest": 120, "green": 120, "nature": 110,
    "jungle": 130, "emerald": 145, "mint": 155, "teal": 175, "turquoise": 172, "sea": 190,
    "water": 195, "ice": 192, "ocean": 200, "sky": 205, "winter": 200, "blue": 220, "sapphire": 225,
    "night": 235, "midnight": 238, "space": 250, "galaxy": 262, "cosmic": 258, "purple": 275,
    "violet": 270, "lavender": 265, "magic": 285, "mystic": 288, "dream": 300, "neon": 305,
    "cyber": 300, "pink": 330, "rose": 340, "love": 345, "cherry": 348,
}  # fmt: skip
DARK = {"dark", "night", "midnight", "noir", "gothic", "shadow", "space", "horror", "storm", "abyss"}
LIGHT = {"bright", "pastel", "soft", "light", "airy", "morning", "snow", "cloud", "gentle", "calm"}

Layer = Callable[[Image.Image, random.Random], Image.Image]


def seed_of(request: ImageRequest) -> int:
    text = f"{request.persona_id}\n{request.persona_name}\n{request.prompt.strip().lower()}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def palette(prompt: str, rng: random.Random) -> list[tuple[int, int, int]]:
    words = re.findall(r"[a-z]+", prompt.lower())
    hues = [HUES[w] / 360 for w in words if w in HUES]
    base = hues[0] if hues else rng.random()
    accent = hues[1] if len(hues) > 1 else (base + rng.choice((0.08, 0.5, 0.58, -0.08))) % 1.0
    lightness = 0.32 if DARK & set(words) else 0.68 if LIGHT & set(words) else 0.5
    colours = []
    for hue, light, sat in (
        (base, lightness - 0.22, 0.55),
        (base + 0.03, lightness, 0.65),
        (accent, lightness + 0.05, 0.75),
        (accent + 0.04, lightness + 0.18, 0.6),
        (base - 0.05, lightness + 0.3, 0.35),
    ):
        r, g, b = colorsys.hls_to_rgb(hue % 1.0, min(max(light, 0.05), 0.95), sat)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours


class Painter:
    def __init__(self, request: ImageRequest) -> None:
        self.request = request
        self.rng = random.Random(seed_of(request))
        self.colours = palette(request.prompt, self.rng)
        self.size = (request.width, request.height)

    def background(self, _: Image.Image | None = None) -> Image.Image:
        w, h = self.size
        top = Image.new("RGB", self.size, self.colours[0])
        bottom = Image.new("RGB", self.size, self.colours[1])
        mask = Image.linear_gradient("L").resize(self.size)
        canvas = Image.composite(bottom, top, mask)
        glow = Image.radial_gradient("L").resize((w, h)).point(lambda v: max(0, 200 - v))
        light = Image.new("RGB", self.size, self.colours[4])
        return Image.composite(light, canvas, glow).convert("RGBA")

    def bokeh(self, canvas: Image.Image) -> Image.Image:
        w, h = self.size
        layer = Image.new("RGBA", self.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        for _ in range(self.rng.randint(25, 45)):
            r = self.rng.uniform(0.02, 0.12) * min(w, h)
            x, y = self.rng.uniform(0, w), self.rng.uniform(0, h)
            colour = self.rng.choice(self.colours[2:])
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(*colour, self.rng.randint(25, 80)))
        layer = layer.filter(ImageFilter.GaussianBlur(min(w, h) / 200))
        return Image.alpha_composite(canvas, layer)

    def flow(self, canvas: Image.Image) -> Image.Image:
        w, h = self.size
        layer = Image.new("RGBA", self.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        f1, f2 = self.rng.uniform(1.5, 4.0) / w, self.rng.uniform(1.5, 4.0) / h
        p1, p2 = self.rng.uniform(0, math.tau), self.rng.uniform(0, math.tau)
        # A second, diagonal wave keeps the field from looking like a grid.
        f3, p3 = self.rng.uniform(0.7, 2.0) / (w + h), self.rng.uniform(0, math.tau)
        twist = self.rng.uniform(1.5, 3.5)
        step = min(w, h) / 160
        for _ in range(160):
            x, y = self.rng.uniform(0, w), self.rng.uniform(0, h)
            colour = (*self.rng.choice(self.colours[2:]), self.rng.randint(60, 140))
            points = [(x, y)]
            for _ in range(60):
                angle = twist * (
                    math.sin(x * f1 * math.tau + p1) * math.cos(y * f2 * math.tau + p2)
                    + 0.6 * math.sin((x + y) * f3 * math.tau + p3)
                )
                x += math.cos(angle) * step
                y += math.sin(angle) * step
                if not (0 <= x < w and 0 <= y < h):
                    break
                points.append((x, y))
            if len(points) > 1:
                draw.line(points, fill=colour, width=self.rng.randint(1, 3))
        return Image.alpha_composite(canvas, layer)

    def sigil(self, canvas: Image.Image) -> Image.Image:
        """The persona's mark: a polygon and rings whose shape comes from the persona alone."""
        w, h = self.size
        persona = hashlib.sha256(f"{self.request.persona_id}\n{self.request.persona_name}".encode()).digest()
        sides = 3 + persona[0] % 6
        turn = persona[1] / 255 * math.tau
        cx, cy, radius = w / 2, h / 2, min(w, h) * (0.16 + persona[2] / 255 * 0.1)
        layer = Image.new("RGBA", self.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        ink = (*self.colours[4], 170)
        for ring in range(1 + persona[3] % 3):
            r = radius * (1.25 + 0.18 * ring)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=max(2, w // 300))
        corners = [
            (
                cx + radius * math.cos(turn + i * math.tau / sides),
                cy + radius * math.sin(turn + i * math.tau / sides),
            )
            for i in range(sides)
        ]
        draw.polygon(corners, outline=ink, width=max(3, w // 200))
        for corner in corners:
            draw.line([(cx, cy), corner], fill=(*self.colours[3], 110), width=max(1, w // 400))
        return Image.alpha_composite(canvas, layer.filter(ImageFilter.GaussianBlur(0.6)))

    def caption(self, canvas: Image.Image) -> Image.Image:
        w, h = self.size
        font = ImageFont.load_default(size=max(12, h // 48))
        draw = ImageDraw.Draw(canvas)
        left, top, right, bottom = draw.textbbox((0, 0), CAPTION, font=font)
        pad = max(6, h // 120)
        box = (pad, h - (bottom - top) - 3 * pad, pad * 3 + (right - left), h - pad)
        overlay = Image.new("RGBA", self.size, (0, 0, 0, 0))
        ImageDraw.Draw(overlay).rounded_rectangle(box, radius=pad, fill=(0, 0, 0, 110))
        canvas = Image.alpha_composite(canvas, overlay)
        ImageDraw.Draw(canvas).text(
            (box[0] + pad, box[1] + pad - top), CAPTION, font=font, fill=(255, 255, 255, 230)
        )
        return canvas

    def layers(self) -> list[Callable[[Image.Image], Image.Image]]:
        return [self.bokeh, self.flow, self.flow, self.sigil, self.caption]


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG", compress_level=6)
    return out.getvalue()


class ProceduralImageProvider:
    name = NAME

    async def generate(self, request: ImageRequest, on_fraction: OnFraction) -> GeneratedImage:
        painter = Painter(request)
        layers = painter.layers()
        steps = len(layers) + 2  # background, the layers, encoding
        canvas = await asyncio.to_thread(painter.background)
        await on_fraction(1 / steps)
        for i, layer in enumerate(layers, start=2):
            canvas = await asyncio.to_thread(layer, canvas)
            await on_fraction(i / steps)
        data = await asyncio.to_thread(_png, canvas)
        await on_fraction(1.0)
        return GeneratedImage(data=data, provider=NAME, model=MODEL, label=LABEL)

    async def close(self) -> None:
        return None
