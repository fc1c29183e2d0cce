"""Draw the starter personas' avatars into `avatars/` (run once; the files are committed):

    .venv/bin/python -m persona_svc.starters.draw

Each is the `procedural` image provider's art for the starter's `avatar_prompt` (gradient, glowing
circles, flow field, the persona's sigil), with the name's initials on top instead of its caption:
deterministic, no model, a few tens of kilobytes of WebP."""

from __future__ import annotations

import io
import sys

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from generation_worker.media.providers.image import ImageRequest
from generation_worker.media.providers.procedural import Painter
from persona_svc.starters.catalog import Starter, starters

SIZE = 512
QUALITY = 80


def initials(name: str) -> str:
    words = [w for w in name.replace("-", " ").split() if w[:1].isalpha()]
    titles = {"miss", "mr", "mrs", "captain", "coach", "of", "the"}
    kept = [w for w in words if w.lower() not in titles] or words
    return "".join(w[0].upper() for w in kept[:2])


def monogram(canvas: Image.Image, text: str) -> Image.Image:
    font = ImageFont.load_default(size=SIZE // 4)
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    centre = (canvas.width / 2, canvas.height / 2)
    shadow = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    ImageDraw.Draw(shadow).text(centre, text, font=font, anchor="mm", fill=(0, 0, 0, 150))
    canvas = Image.alpha_composite(canvas, shadow.filter(ImageFilter.GaussianBlur(SIZE / 80)))
    draw.text(centre, text, font=font, anchor="mm", fill=(255, 255, 255, 235))
    return Image.alpha_composite(canvas, layer)


def avatar(starter: Starter) -> bytes:
    request = ImageRequest(
        prompt=starter.avatar_prompt,
        persona_id=starter.persona_id,
        persona_name=starter.persona.name,
        width=SIZE,
        height=SIZE,
    )
    painter = Painter(request)
    canvas = painter.background()
    for layer in (painter.bokeh, painter.flow, painter.sigil):
        canvas = layer(canvas)
    canvas = monogram(canvas, initials(starter.persona.name))
    out = io.BytesIO()
    canvas.convert("RGB").save(out, "WEBP", quality=QUALITY, method=6)
    return out.getvalue()


def main() -> None:
    for starter in starters():
        data = avatar(starter)
        starter.avatar_path.parent.mkdir(exist_ok=True)
        starter.avatar_path.write_bytes(data)
        print(f"{starter.avatar_path.name}: {len(data)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
