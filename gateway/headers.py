"""Security headers on every answer the gateway sends: the web UI's files, `/docs`, JSON from the
services, errors, media and event streams. One send-wrapper, so no path can forget them."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Iterable, Sequence
from urllib.parse import urlsplit

from chassis.settings import Settings
from gateway.asgi import Message, Scope, Send

DOCS_PATH = "/docs"
# Browsers send no referrer across origins beyond the origin itself, none on a downgrade.
REFERRER_POLICY = b"strict-origin-when-cross-origin"
# Anything that is not a page (JSON, media, streams) may load nothing and be framed nowhere.
NOT_A_PAGE = b"default-src 'none'; frame-ancestors 'none'"
COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", REFERRER_POLICY),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP level 2
]
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def media_sources(settings: Settings) -> list[str]:
    """Where the UI's images and videos come from besides this origin: local media URLs are
    absolute (`PUBLIC_URL`, which may name another host than the one the page is on), S3 media
    come from `S3_PUBLIC_BASE_URL` or presigned URLs on the endpoint (path or virtual-host style)."""
    found = [origin(settings.public_url)]
    if settings.s3_bucket:
        if settings.s3_public_base_url:
            found.append(origin(settings.s3_public_base_url))
        elif settings.s3_endpoint_url:
            endpoint = urlsplit(settings.s3_endpoint_url)
            found += [origin(settings.s3_endpoint_url), f"{endpoint.scheme}://*.{endpoint.netloc}"]
        else:
            found.append("https://*.amazonaws.com")
    return list(dict.fromkeys(s for s in found if s))


def script_hash(body: bytes) -> str:
    """A CSP source allowing one inline script by its content."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"


def ui_policy(settings: Settings, scripts: Sequence[str] = ()) -> str:
    """`scripts`: hashes of the page's inline scripts (index.html's import map, gateway.static)."""
    media = " ".join(["'self'", "blob:", "data:", *media_sources(settings)])
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *scripts]),
            "style-src 'self'",
            f"img-src {media}",
            f"media-src {media}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def docs_policy(page: bytes) -> str:
    """Scalar's reference: its one inline start-up script is allowed by hash; it injects its own
    styles at run time, hence `style-src 'unsafe-inline'` on this page only."""
    hashes = " ".join(script_hash(body) for body in _INLINE_SCRIPT.findall(page))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes}".rstrip(),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    def __init__(self, settings: Settings, docs_page: bytes) -> None:
        self.ui = ui_policy(settings).encode()
        self.docs = docs_policy(docs_page).encode()

    def wrap(self, scope: Scope, send: Send) -> Send:
        path: str = scope.get("path", "")

        # A plain function handing back `send`'s awaitable: every body write (each SSE event)
        # passes through here, and a coroutine of our own would cost a frame per write.
        def secured(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self.added(path, message.get("headers", ()))}
            return send(message)

        return secured

    def added(self, path: str, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """`headers` and the security headers its answer lacks (one pass: this runs per request)."""
        out = list(headers)
        present = set()
        html = False
        for name, value in out:
            name = name.lower()
            present.add(name)
            if name == b"content-type" and value.startswith(b"text/html"):
                html = True
        out += [(n, v) for n, v in COMMON if n not in present]
        if b"content-security-policy" not in present:
            policy = (self.docs if path == DOCS_PATH else self.ui) if html else NOT_A_PAGE
            out.append((b"content-security-policy", policy))
        return out
