"""The web UI's bytes: files compressed per Accept-Encoding, fingerprinted URLs kept for a year,
index.html revalidated and naming the current fingerprints (docs/web.md, "Bytes")."""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import brotli
import httpx

from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from gateway.app import web_root
from tests.support.mesh import Mesh, client, mesh

IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.S)


async def raw(
    http: httpx.AsyncClient, path: str, encoding: str, **headers: str
) -> tuple[httpx.Response, bytes]:
    """The response and its bytes as sent (httpx would decode them)."""
    async with http.stream("GET", path, headers={"accept-encoding": encoding, **headers}) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, body


def link(page: str, attribute: str, original: str) -> str:
    """The fingerprinted URL index.html gives for `original` (`/css/app.css`)."""
    stem, _, ext = original.rpartition(".")
    found = re.search(rf'{attribute}="({re.escape(stem)}\.[0-9a-f]{{12}}\.{ext})"', page)
    assert found, f"no fingerprinted {original} in index.html"
    return found.group(1)


async def test_files_are_sent_compressed_as_the_browser_accepts(stack: Mesh) -> None:
    file = (web_root(stack.settings) / "js" / "app.js").read_bytes()
    gw = await stack.server(create_gateway(stack.settings))
    async with client(gw.url) as http:
        br, br_body = await raw(http, "/js/app.js", "gzip, deflate, br")
        gz, gz_body = await raw(http, "/js/app.js", "gzip")
        plain, plain_body = await raw(http, "/js/app.js", "identity")
        refused, _ = await raw(http, "/js/app.js", "br;q=0, gzip")
        head = await http.head("/js/app.js", headers={"accept-encoding": "br"})
        again, again_body = await raw(http, "/js/app.js", "br", **{"if-none-match": br.headers["etag"]})
        crossed, _ = await raw(http, "/js/app.js", "gzip", **{"if-none-match": br.headers["etag"]})

    assert br.headers["content-encoding"] == "br" and brotli.decompress(br_body) == file
    assert gz.headers["content-encoding"] == "gzip" and gzip.decompress(gz_body) == file
    assert "content-encoding" not in plain.headers and plain_body == file
    assert refused.headers["content-encoding"] == "gzip"
    assert len(br_body) < len(gz_body) < len(file)
    for response in (br, gz, plain, head, again):
        assert response.headers["vary"] == "Accept-Encoding"
    # One ETag per encoding: a revalidation in another encoding gets the bytes, not a 304.
    assert len({br.headers["etag"], gz.headers["etag"], plain.headers["etag"]}) == 3
    assert again.status_code == 304 and again_body == b""
    assert crossed.status_code == 200
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(br_body)) and head.headers["etag"] == br.headers["etag"]


async def test_fingerprinted_urls_are_kept_for_a_year_and_index_html_is_revalidated(stack: Mesh) -> None:
    web = web_root(stack.settings)
    gw = await stack.server(create_gateway(stack.settings))
    async with client(gw.url) as http:
        index = await http.get("/")
        page = index.text
        css_url = link(page, "href", "/css/app.css")
        css = await http.get(css_url)
        app = await http.get(link(page, "src", "/js/app.js"))
        imports = json.loads(IMPORT_MAP.findall(page)[0])["imports"]
        view = await http.get(imports["/js/views/explore.js"])
        unversioned = await http.get("/css/app.css")
        stale = await http.get(re.sub(r"\.[0-9a-f]{12}\.", ".000000000000.", css_url))

    assert index.headers["cache-control"] == "no-cache"
    for response in (css, app, view):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "max-age=31536000, immutable"
    assert css.content == (web / "css" / "app.css").read_bytes()
    assert view.content == (web / "js" / "views" / "explore.js").read_bytes()
    # Every module of the app is mapped: the modules' relative imports reach the fingerprints.
    modules = {f"/{p.relative_to(web).as_posix()}" for p in (web / "js").rglob("*.js")}
    assert set(imports) == modules
    # What app.js imports is asked for with it; a page's own modules with the page (app.js load()).
    preloads = re.findall(r'<link rel="modulepreload" href="([^"]+)">', page)
    assert imports["/js/api.js"] in preloads and not any("/views/" in u for u in preloads)
    later = re.search(r"<meta name=\"module-preloads\" content='([^']*)'>", page)
    assert later is not None
    assert imports["/js/community.js"] in json.loads(html.unescape(later.group(1)))["/js/views/explore.js"]
    # The old names still work (bookmarks, /docs), revalidated; so does a fingerprint from
    # another deploy, which must not be kept.
    assert unversioned.headers["cache-control"] == "no-cache" and unversioned.content == css.content
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    # The import map is the page's one inline script, allowed by its hash and nothing else.
    digest = base64.b64encode(hashlib.sha256(IMPORT_MAP.findall(page)[0].encode()).digest()).decode()
    policy = dict(p.strip().partition(" ")[::2] for p in index.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    assert "unsafe" not in index.headers["content-security-policy"]


async def test_a_changed_file_gets_a_new_fingerprint(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    web = tmp_path / "web"
    shutil.copytree(web_root(make_settings()), web, ignore=shutil.ignore_patterns("vendor"))
    async with mesh(make_settings(web_dir=str(web))) as stack:
        gw = await stack.server(create_gateway(stack.settings))
        async with client(gw.url) as http:
            before = await http.get("/")
            old_url = link(before.text, "href", "/css/app.css")
            old_module = json.loads(IMPORT_MAP.findall(before.text)[0])["imports"]["/js/dom.js"]
            css = web / "css" / "app.css"
            css.write_bytes(css.read_bytes() + b"\n.changed { color: red; }\n")
            revalidated = await http.get("/", headers={"if-none-match": before.headers["etag"]})
            after = await http.get("/")
            new_url = link(after.text, "href", "/css/app.css")
            new_css = await http.get(new_url)
            old_css = await http.get(old_url)

    assert revalidated.status_code == 200, "index.html must not be 304 once a file it names changed"
    assert new_url != old_url and new_css.content.endswith(b".changed { color: red; }\n")
    assert new_css.headers["cache-control"] == "max-age=31536000, immutable"
    # What did not change keeps its URL (and the browser's cached copy).
    assert json.loads(IMPORT_MAP.findall(after.text)[0])["imports"]["/js/dom.js"] == old_module
    # The old fingerprint is no longer promised to be these bytes forever.
    assert old_css.headers["cache-control"] == "no-cache"
