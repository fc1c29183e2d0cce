"""The web UI's files, served at `/`; never a path outside `web/`.

Each file is also served at a fingerprinted URL (`/js/api.<hash>.js`) cached for a year; `index.html`
(`no-cache`) names the current fingerprints: its links, and an import map that sends the modules'
own relative imports to them. Compressed per Accept-Encoding (br, gzip), compressed once and kept.
Why an import map and not rewritten import specifiers: docs/web.md, "Bytes"."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import mimetypes
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.asgi import Scope, Send, header
from gateway.encoding import accepted, compress
from gateway.headers import script_hash

TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
COMPRESSIBLE = {".js", ".mjs", ".css", ".html", ".svg", ".json", ".webmanifest", ".txt", ".map"}
IMMUTABLE = b"max-age=31536000, immutable"
REVALIDATE = b"no-cache"
INDEX = "index.html"
# Vendored files (Scalar, for /docs only) are served and compressed, but not fingerprinted.
NOT_FINGERPRINTED = ("vendor/",)
FINGERPRINT = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<ext>\.[A-Za-z0-9]+)$")
# Static imports only (`import x from "./a.js"`, `export … from`, `import "./a.js"`), never `import(`.
STATIC_IMPORT = re.compile(rb"""(?:\bfrom\s*|\bimport\s*)["'](\.{1,2}/[^"'\s]+)["']""")
REFERENCE = re.compile(rb'(\s(?:href|src)=")(/[^"?#]+)(")')
MODULE_SCRIPT = re.compile(rb'<script type="module" src="(/[^"]+)"></script>')


@dataclass
class Asset:
    rel: str
    stamp: tuple[int, int]  # (mtime_ns, size): a changed file is read again
    body: bytes
    content_type: str
    digest: str = ""
    encoded: dict[str, bytes] = field(default_factory=dict)
    policy: bytes | None = None  # index.html's CSP, with its import map's hash

    def __post_init__(self) -> None:
        self.digest = self.digest or hashlib.sha256(self.body).hexdigest()[:12]

    @property
    def url(self) -> str:
        stem, dot, ext = self.rel.rpartition(".")
        return f"/{stem}.{self.digest}.{ext}" if dot and "/" not in ext else f"/{self.rel}"

    @property
    def compressible(self) -> bool:
        return Path(self.rel).suffix in COMPRESSIBLE


@dataclass
class Hit:
    asset: Asset
    immutable: bool


def matches(scope: Scope, etag: str) -> bool:
    value = header(scope, b"if-none-match")
    if not value:
        return False
    tags = {t.strip().removeprefix("W/") for t in value.split(",")}
    return "*" in tags or etag in tags


class StaticFiles:
    def __init__(self, root: Path, policy: Callable[[Sequence[str]], str] | None = None) -> None:
        """`policy(script_hashes)`: the page's Content-Security-Policy allowing index.html's inline
        import map by hash (gateway.headers.ui_policy)."""
        self.root = root.resolve()
        self.policy = policy
        self.assets: dict[str, Asset] = {}
        self.index: Asset | None = None
        self.refresh()

    # -- the tree -------------------------------------------------------------------------------

    def _stamp(self, file: Path) -> tuple[int, int] | None:
        try:
            stat = file.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _load(self, rel: str) -> Asset | None:
        """The asset at `rel`, read again when the file changed since (edits show without a restart)."""
        file = self.root / rel
        stamp = self._stamp(file)
        if stamp is None or not file.is_file():
            self.assets.pop(rel, None)
            return None
        asset = self.assets.get(rel)
        if asset is None or asset.stamp != stamp:
            suffix = file.suffix
            content_type = (
                TYPES.get(suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            )
            asset = Asset(rel, stamp, file.read_bytes(), content_type)
            self.assets[rel] = asset
        return asset

    def _app_files(self) -> list[str]:
        return sorted(
            rel
            for p in self.root.rglob("*")
            if p.is_file() and not (rel := p.relative_to(self.root).as_posix()).startswith(NOT_FINGERPRINTED)
        )

    def refresh(self) -> Asset | None:
        """Re-read what changed and, if anything did, render index.html again."""
        before = {rel: a.digest for rel, a in self.assets.items() if not rel.startswith(NOT_FINGERPRINTED)}
        rels = self._app_files()
        for rel in set(before) - set(rels):
            self.assets.pop(rel, None)
        for rel in rels:
            self._load(rel)
        after = {rel: self.assets[rel].digest for rel in rels if rel in self.assets}
        if self.index is None or before != after:
            self.index = self._render_index()
        return self.index

    # -- index.html -------------------------------------------------------------------------------

    def _closure(self, rel: str) -> list[str]:
        """The modules `rel` imports statically, transitively (preloaded: no waves of requests)."""
        seen: list[str] = []
        todo = [rel]
        while todo:
            current = todo.pop()
            asset = self.assets.get(current)
            if asset is None:
                continue
            base = Path("/" + current).parent
            for spec in STATIC_IMPORT.findall(asset.body):
                target = (base / spec.decode()).resolve().as_posix().lstrip("/")
                if target in self.assets and target not in seen and target != rel:
                    seen.append(target)
                    todo.append(target)
        return seen

    def _render_index(self) -> Asset | None:
        source = self.assets.get(INDEX)
        if source is None:
            return None
        modules = {
            f"/{rel}": a.url
            for rel, a in self.assets.items()
            if rel.endswith((".js", ".mjs")) and rel != INDEX
        }
        importmap = json.dumps({"imports": dict(sorted(modules.items()))}, separators=(",", ":")).encode()

        def fingerprint(m: re.Match[bytes]) -> bytes:
            asset = self.assets.get(m.group(2).decode().lstrip("/"))
            return m.group(1) + (asset.url.encode() if asset else m.group(2)) + m.group(3)

        def preload(m: re.Match[bytes]) -> bytes:
            entry = m.group(1).decode().lstrip("/")
            first = self._closure(entry)
            links = b"".join(
                b'<link rel="modulepreload" href="' + self.assets[rel].url.encode() + b'">\n' for rel in first
            )
            # What each module loaded later (a page's view, by `import()`) imports beyond the entry's
            # modules: the app asks for them with the module, not in waves (web/js/app.js `preload`).
            later = {
                path: [self.assets[rel].url for rel in deps]
                for path in modules
                if (deps := [r for r in self._closure(path.lstrip("/")) if r not in first and r != entry])
            }
            graph = html.escape(json.dumps(later, separators=(",", ":")), quote=False).replace("'", "&#x27;")
            # The import map comes before any module is fetched, preloads included.
            return (
                b'<script type="importmap">'
                + importmap
                + b"</script>\n"
                + links
                + b'<meta name="module-preloads" content=\''
                + graph.encode()
                + b"'>\n"
                + m.group(0)
            )

        body = MODULE_SCRIPT.sub(preload, source.body, count=1)
        body = REFERENCE.sub(fingerprint, body)
        index = Asset(INDEX, source.stamp, body, source.content_type)
        if self.policy is not None:
            index.policy = self.policy([script_hash(importmap)]).encode()
        return index

    # -- requests ---------------------------------------------------------------------------------

    def find(self, path: str) -> Hit | None:
        rel = path.lstrip("/") or INDEX
        candidate = (self.root / rel).resolve()
        if not candidate.is_relative_to(self.root):
            return None
        if candidate.is_dir():
            candidate = candidate / INDEX
        rel = candidate.relative_to(self.root).as_posix()
        if rel == INDEX:
            index = self.refresh()
            return Hit(index, False) if index else None
        if candidate.is_file():
            asset = self._load(rel)
            return Hit(asset, False) if asset else None
        named = FINGERPRINT.match(rel)
        if named is None or named["stem"].startswith(NOT_FINGERPRINTED):
            return None
        asset = self._load(named["stem"] + named["ext"])
        if asset is None:
            return None
        # An older or newer fingerprint (a deploy under way): today's file, not to be kept.
        return Hit(asset, asset.digest == named["digest"])

    async def serve(self, scope: Scope, send: Send, hit: Hit) -> None:
        asset = hit.asset
        encoding = next(iter(accepted(scope)), None) if asset.compressible else None
        if encoding is not None and encoding not in asset.encoded:
            asset.encoded[encoding] = await asyncio.to_thread(compress, asset.body, encoding)
        body = asset.body
        if encoding is not None and len(asset.encoded[encoding]) < len(body):
            body = asset.encoded[encoding]
        else:
            encoding = None
        # One ETag per encoding: a cache must not answer a gzip request with br bytes.
        etag = f'"{asset.digest}-{encoding}"' if encoding else f'"{asset.digest}"'
        # Security headers (nosniff, CSP, …) are added for every answer by gateway.headers.
        headers = [
            (b"etag", etag.encode()),
            (b"cache-control", IMMUTABLE if hit.immutable else REVALIDATE),
            # With its type, so a 304 gets the same Content-Security-Policy as the page it revalidates.
            (b"content-type", asset.content_type.encode()),
        ]
        if asset.compressible:
            headers.append((b"vary", b"Accept-Encoding"))
        if asset.policy is not None:
            headers.append((b"content-security-policy", asset.policy))
        if matches(scope, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if encoding:
            headers.append((b"content-encoding", encoding.encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
