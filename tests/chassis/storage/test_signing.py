"""Signed, expiring URLs for local storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.settings import Settings
from chassis.storage.signing import SignatureInvalid, UrlExpired, UrlSigner, url_secret


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_round_trip_and_expiry() -> None:
    clock = Clock(1_000_000.0)
    signer = UrlSigner(b"secret", 3600, clock)
    exp, sig = signer.sign("m/original.jpg")
    assert 1_003_600 <= exp <= 1_003_600 + signer.step
    assert signer.verify("m/original.jpg", str(exp), sig) == exp
    clock.now = exp
    with pytest.raises(UrlExpired):
        signer.verify("m/original.jpg", str(exp), sig)


def test_tampering_is_refused() -> None:
    signer = UrlSigner(b"secret", 3600)
    exp, sig = signer.sign("m/original.jpg")
    for key, e, s in [
        ("m/thumbnail.webp", str(exp), sig),  # another file
        ("m/original.jpg", str(exp + 3600), sig),  # a later expiry
        ("m/original.jpg", str(exp), sig[:-1] + ("A" if sig[-1] != "A" else "B")),
        ("m/original.jpg", None, sig),
        ("m/original.jpg", "-1", sig),
        ("m/original.jpg", str(exp), None),
    ]:
        with pytest.raises(SignatureInvalid):
            signer.verify(key, e, s)
    with pytest.raises(SignatureInvalid):
        UrlSigner(b"other", 3600).verify("m/original.jpg", str(exp), sig)


def test_same_url_within_a_step_so_browsers_can_cache() -> None:
    clock = Clock(1_000_000.0)
    signer = UrlSigner(b"secret", 3600, clock)
    first = signer.query("m/a.jpg")
    clock.now += 10
    assert signer.query("m/a.jpg") == first
    clock.now += signer.step
    assert signer.query("m/a.jpg") != first


def test_dev_secret_is_created_once_and_shared(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=str(tmp_path))
    first = url_secret(settings)
    assert len(first) >= 32 and url_secret(settings) == first
    assert (tmp_path / "media-url-secret").stat().st_mode & 0o777 == 0o600
    configured = Settings.from_env({}, data_dir=str(tmp_path), media_url_secret="from-env")
    assert url_secret(configured) == b"from-env"
