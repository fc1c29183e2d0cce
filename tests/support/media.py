"""Helpers for the media tests: sample media made at test time (Pillow, ffmpeg) and the mesh
pieces media needs (auth_svc, persona_svc, media_svc, the worker's media kinds, the gateway). The S3-protocol
server is `tests.support.s3`."""

from __future__ import annotations

import asyncio
import io
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image

from auth_svc.app import create_app as create_auth
from chassis.settings import Settings
from chassis.storage import open_storage
from gateway.app import create_app as create_gateway
from generation_worker.app import create_app as create_worker
from generation_worker.media.ffmpeg import ffmpeg_exe
from generation_worker.media.jobs import MediaJobs
from media_svc.app import create_app as create_media
from persona_svc.app import create_app as create_persona
from tests.support.mesh import Mesh, RunningApp, RunningServer, client
from tests.support.poll import eventually
from tests.support.s3 import create_bucket
from tests.support.sse import SseEvent, SseStream
from tests.support.users import User, sign_up

WAIT = 60.0
GPS_LATITUDE = (37.0, 46.0, 29.7)


# Sample media


def noisy_image(width: int, height: int, seed: int = 1) -> Image.Image:
    """A photo-like picture (gradients plus noise) that compresses like a real photo."""
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    tint = Image.new("RGB", (width, height), ((seed * 70) % 256, (seed * 130) % 256, 180))
    return Image.blend(Image.blend(base, tint, 0.5), noise, 0.3)


def jpeg_with_gps(width: int = 2400, height: int = 1800, *, orientation: int = 1, quality: int = 90) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "W", 4: (122.0, 25.0, 9.8)}
    out = io.BytesIO()
    noisy_image(width, height).save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def png_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    noisy_image(width, height).save(out, "PNG")
    return out.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG header claiming width×height 1-bit pixels, with a small zero IDAT stream:
    a few hundred kilobytes that would decode to hundreds of megapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_mp4(
    path: Path,
    *,
    seconds: float = 2.0,
    size: str = "1280x960",
    audio: bool = True,
    faststart: bool = False,
    codec: str = "libx264",
) -> Path:
    """A test-pattern video with a tone and a GPS `location` tag; the moov atom is at the end
    unless `faststart` (what many cameras write)."""
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25"]  # fmt: skip
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    args += ["-t", str(seconds), "-c:v", codec, "-pix_fmt", "yuv420p"]
    if codec == "libx264":
        args += ["-preset", "ultrafast"]
    if audio:
        args += ["-c:a", "aac"]
    args += ["-metadata", "location=+37.7749-122.4194/"]
    if faststart:
        args += ["-movflags", "+faststart"]
    subprocess.run([*args, str(path)], check=True, timeout=120)
    return path


def padded_mp4(source: Path, target: Path, total: int) -> Path:
    """`source` followed by a `free` box filling it up to `total` bytes: still a valid MP4."""
    data = source.read_bytes()
    pad = total - len(data)
    with open(target, "wb") as f:
        f.write(data)
        f.write(struct.pack(">I", pad) + b"free")
        block = b"\x00" * (1024 * 1024)
        left = pad - 8
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)
    return target


def top_level_boxes(data: bytes) -> list[str]:
    """The ISO-BMFF top-level box types in file order (`moov` before `mdat` = faststart)."""
    boxes = []
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size == 0:
            break
        pos += size
    return boxes


def exif_has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return 0x8825 in exif or bool(exif.get_ifd(0x8825))


# A real S3-protocol server


async def stored_keys(settings: Settings) -> list[str]:
    """Every object key in the media storage (local folder or bucket)."""
    if settings.storage == "local":
        root = Path(settings.data_dir) / "media"
        if not root.exists():
            return []
        return sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
        )
    async with open_storage(settings) as storage:
        client_: Any = getattr(storage, "client")  # noqa: B009
        keys: list[str] = []
        async for page in client_.get_paginator("list_objects_v2").paginate(Bucket=settings.s3_bucket):
            keys += [str(item["Key"]) for item in page.get("Contents", [])]
        return sorted(keys)


# The media mesh


@dataclass
class MediaStack:
    mesh: Mesh
    settings: Settings
    auth: RunningApp
    media: RunningApp
    worker: RunningApp | None
    gateway: RunningServer

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return client(self.gateway.url, **kwargs)

    async def start_worker(self, settings: Settings | None = None) -> RunningApp:
        chosen = settings or self.settings
        self.worker = await self.mesh.app(create_worker(chosen, kinds=MediaJobs(chosen).kinds()))
        return self.worker


async def start_media_stack(mesh: Mesh, settings: Settings, *, worker: bool = True) -> MediaStack:
    if settings.storage == "s3":
        await create_bucket(settings)
    auth = await mesh.app(create_auth(settings))
    # Media is added to a persona by its owner only: persona_svc says whose it is.
    await mesh.app(create_persona(settings))
    media = await mesh.app(create_media(settings))
    port = urlsplit(settings.public_url).port
    gateway = await mesh.server(create_gateway(settings), port=port)
    stack = MediaStack(mesh, settings, auth, media, None, gateway)
    if worker:
        await stack.start_worker()
    return stack


async def upload(
    http: httpx.AsyncClient,
    user: User,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    return await http.post(
        "/media/uploads",
        files={"file": (filename, data, content_type)},
        data=fields or {},
        headers=user.headers,
    )


async def wait_status(
    http: httpx.AsyncClient, user: User, media_id: str, timeout: float = WAIT
) -> dict[str, Any]:
    """Poll `GET /media/{id}` until the item leaves `processing` (media_svc persisted the result)."""
    item: dict[str, Any] = {}

    async def done() -> bool:
        r = await http.get(f"/media/{media_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        item.update(r.json()["data"])
        return bool(item["status"] != "processing")

    await eventually(done, timeout, f"media {media_id} leaving processing", every=0.1)
    return item


async def media_events(stream: SseStream, media_id: str, timeout: float = WAIT) -> list[SseEvent]:
    """The stream's events about `media_id`, up to its `media_ready` or `media_failed`."""
    seen: list[SseEvent] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await stream.next(timeout)
            if not isinstance(event.data, dict) or event.data.get("media_id") != media_id:
                continue
            seen.append(event)
            if event.event in ("media_ready", "media_failed"):
                return seen


def progress_of(events: list[SseEvent]) -> list[int]:
    return [int(e.data["percent"]) for e in events if e.event == "media_progress"]


async def new_user(http: httpx.AsyncClient, name: str = "media") -> User:
    return await sign_up(http, name)


async def new_persona(http: httpx.AsyncClient, user: User, visibility: str = "private") -> str:
    """A persona of `user`'s (media can be added to it by `user` only); its id."""
    body = {"name": "Seraphina", "description": "A guardian.", "greeting": "Hello.", "visibility": visibility}
    r = await http.post("/personas", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])
