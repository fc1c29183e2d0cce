"""One-time codes: six random digits, stored as a keyed hash (HMAC with a pepper derived
from the signing key), so the table alone does not reveal them even by brute force."""

from __future__ import annotations

import hashlib
import hmac
import secrets

DIGITS = 6


def new_code() -> str:
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


class CodeHasher:
    def __init__(self, peppers: list[bytes]) -> None:
        self.peppers = peppers

    @staticmethod
    def _mac(pepper: bytes, email: str, purpose: str, code: str) -> str:
        return hmac.new(pepper, f"{purpose}\0{email}\0{code}".encode(), hashlib.sha256).hexdigest()

    def hash(self, email: str, purpose: str, code: str) -> str:
        return self._mac(self.peppers[0], email, purpose, code)

    def matches(self, stored: str, email: str, purpose: str, code: str) -> bool:
        # Every key's pepper: a code sent just before a signing-key rotation stays valid.
        return any(
            hmac.compare_digest(stored, self._mac(p, email, purpose, code.strip())) for p in self.peppers
        )
