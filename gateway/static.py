"""The web UI's files, served at `/` with ETags; never a path outside `web/`."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from gateway.asgi import Scope, Send, header, send_bytes

TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}


class StaticFiles:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def find(self, path: str) -> Path | None:
        rel = path.lstrip("/") or "index.html"
        candidate = (self.root / rel).resolve()
        if not candidate.is_relative_to(self.root):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None

    async def serve(self, scope: Scope, send: Send, file: Path) -> None:
        stat = file.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        content_type = (
            TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        )
        # Security headers (nosniff, CSP, …) are added for every answer by gateway.headers.
        headers = [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]
        if header(scope, b"if-none-match") == etag:
            # With its type, so a 304 gets the same Content-Security-Policy as the page it revalidates.
            headers.append((b"content-type", content_type.encode()))
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] == "HEAD":
            headers += [
                (b"content-type", content_type.encode()),
                (b"content-length", str(stat.st_size).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_bytes(send, 200, file.read_bytes(), headers, content_type.encode())
