"""HMAC-signed, expiring URLs for local storage (issued by media_svc and the worker, checked by
the gateway's `/files/` plugin). One secret for all of them: `MEDIA_URL_SECRET`, or in
development a random one kept in `<DATA_DIR>/media-url-secret`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from chassis.settings import Settings

SECRET_FILE = "media-url-secret"


class SignatureInvalid(Exception):
    pass


class UrlExpired(Exception):
    pass


def url_secret(settings: Settings) -> bytes:
    if settings.media_url_secret:
        return settings.media_url_secret.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(32).encode()
    tmp = path.with_name(f"{SECRET_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(fresh)
    try:
        # link() fails if another process won the race: everyone then reads the winner's secret.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


class UrlSigner:
    def __init__(self, secret: bytes, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.ttl = ttl
        self.clock = clock
        # Expiries are rounded up to a step, so the same object gets the same URL for a
        # while and browsers can cache it; a URL lives between `ttl` and `ttl + step`.
        self.step = max(1, int(ttl // 12))

    def _mac(self, key: str, exp: int) -> str:
        digest = hmac.new(self.secret, f"{key}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, key: str) -> tuple[int, str]:
        exp = math.ceil((self.clock() + self.ttl) / self.step) * self.step
        return exp, self._mac(key, exp)

    def query(self, key: str) -> str:
        exp, sig = self.sign(key)
        return f"exp={exp}&sig={sig}"

    def verify(self, key: str, exp: str | None, sig: str | None) -> int:
        """Returns the expiry (unix seconds); raises SignatureInvalid or UrlExpired."""
        if not exp or not sig or not exp.isdigit() or len(exp) > 12:
            raise SignatureInvalid("missing or malformed signature")
        expected = self._mac(key, int(exp))
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise SignatureInvalid("signature does not match")
        if int(exp) <= self.clock():
            raise UrlExpired("link expired")
        return int(exp)
