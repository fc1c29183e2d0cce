"""Access tokens (ES256 JWTs) and the opaque secrets auth_svc hands out.

Refresh tokens, magic-link tokens and API keys carry 256 random bits, so a plain
SHA-256 is enough to store them: nothing short of the secret hashes to the same value.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

from joserfc import jwt

from auth_svc.keys import SigningKeys
from chassis.settings import Settings
from proto.auth import ADMIN_CLAIM, ALGORITHM

REFRESH_PREFIX = "rt_"
API_KEY_PREFIX = "pck_"
# Characters of an API key shown in lists ("pck_" and eight more).
API_KEY_SHOWN = 12


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AccessTokens:
    def __init__(self, settings: Settings, keys: SigningKeys) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = int(settings.access_token_ttl)
        self.keys = keys

    def issue(self, user_id: str, session_id: str, is_admin: bool, now: datetime) -> str:
        iat = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "sid": session_id,
            "iat": iat,
            "exp": iat + self.ttl,
            "jti": uuid.uuid4().hex,
            ADMIN_CLAIM: is_admin,
        }
        signer = self.keys.signer
        return jwt.encode({"alg": ALGORITHM, "kid": signer.kid}, claims, signer, algorithms=[ALGORITHM])
