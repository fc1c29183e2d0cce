"""Signing keys: from `JWT_PRIVATE_KEYS` (production) or generated once and kept in the
`auth_keys` JetStream bucket (standalone), so every replica signs with the same key and
tokens survive restarts. The first key signs; every key is published in the JWKS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import structlog
from joserfc.jwk import ECKey
from nats.js import JetStreamContext, api
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from chassis.bus import ensure_kv
from chassis.settings import Settings
from proto.auth import ALGORITHM, KV_SIGNING_KEYS, SIGNING_KEYS_ENTRY

log = structlog.get_logger("auth_svc.keys")

CURVE = "P-256"
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S)


class KeyConfigError(ValueError):
    pass


class SigningKeys:
    def __init__(self, keys: list[ECKey]) -> None:
        if not keys:
            raise KeyConfigError("no signing key")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise KeyConfigError(f"signing keys must have distinct kids: {kids}")
        self.keys = keys

    @property
    def signer(self) -> ECKey:
        return self.keys[0]

    def jwks(self) -> list[dict[str, Any]]:
        return [dict(k.as_dict(private=False), alg=ALGORITHM, use="sig") for k in self.keys]

    def peppers(self) -> list[bytes]:
        """Secrets for keyed code hashes, one per key (the first is used for new codes):
        a database dump alone cannot brute-force a 6-digit code."""
        out = []
        for key in self.keys:
            private = key.private_key
            assert private is not None
            scalar = private.private_numbers().private_value.to_bytes(32, "big")
            out.append(hmac.new(scalar, b"persona-community one-time code pepper", hashlib.sha256).digest())
        return out


def _checked(key: ECKey) -> ECKey:
    if not key.is_private:
        raise KeyConfigError("JWT_PRIVATE_KEYS must hold private keys")
    if key.curve_name != CURVE:
        raise KeyConfigError(f"signing keys must be EC {CURVE} ({ALGORITHM}), got {key.curve_name}")
    key.ensure_kid()
    return key


def parse_private_keys(text: str) -> list[ECKey]:
    """A JSON list of JWKs, a JWKS `{"keys": [...]}`, one JWK, or PEM blocks (kid = thumbprint)."""
    text = text.strip()
    if not text:
        raise KeyConfigError("JWT_PRIVATE_KEYS is empty")
    if text.startswith("-----"):
        blocks = _PEM.findall(text)
        if not blocks:
            raise KeyConfigError("JWT_PRIVATE_KEYS: no PEM private key found")
        return [_checked(ECKey.import_key(block.encode())) for block in blocks]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyConfigError(f"JWT_PRIVATE_KEYS is neither JSON nor PEM: {exc.msg}") from None
    if isinstance(data, dict):
        data = data.get("keys", [data])
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise KeyConfigError("JWT_PRIVATE_KEYS must be a JWK, a list of JWKs or a JWKS")
    try:
        return [_checked(ECKey.import_key(d)) for d in data]
    except KeyConfigError:
        raise
    except Exception as exc:
        raise KeyConfigError(f"JWT_PRIVATE_KEYS: not an EC private JWK ({exc})") from None


def generate_key() -> ECKey:
    return ECKey.generate_key(CURVE, private=True, auto_kid=True)


def serialize(keys: list[ECKey]) -> str:
    return json.dumps([k.as_dict(private=True) for k in keys])


async def load_signing_keys(settings: Settings, js: JetStreamContext) -> SigningKeys:
    if settings.jwt_private_keys:
        return SigningKeys(parse_private_keys(settings.jwt_private_keys))
    kv = await ensure_kv(
        js,
        api.KeyValueConfig(
            bucket=KV_SIGNING_KEYS, history=1, replicas=settings.js_replicas, storage=api.StorageType.FILE
        ),
    )
    try:
        entry = await kv.get(SIGNING_KEYS_ENTRY)
    except KeyNotFoundError:
        try:
            await kv.create(SIGNING_KEYS_ENTRY, serialize([generate_key()]).encode())
            log.warning(
                "generated a signing key and stored it in the JetStream bucket; set JWT_PRIVATE_KEYS "
                "in production",
                bucket=KV_SIGNING_KEYS,
            )
        except KeyWrongLastSequenceError:
            pass  # Another replica stored its key first: everyone uses that one.
        entry = await kv.get(SIGNING_KEYS_ENTRY)
    assert entry.value is not None
    return SigningKeys(parse_private_keys(entry.value.decode()))
