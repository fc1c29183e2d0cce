"""Who is calling: the gateway verifies credentials and hands services an `Identity`.

This base resolver knows no credentials; auth (access tokens from the JWKS, API keys,
revocation) plugs in through the same interface.
"""

from __future__ import annotations

from typing import Protocol

from gateway.asgi import Scope
from proto.identity import Identity


class Authenticator(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def identify(self, scope: Scope) -> Identity | None:
        """The verified caller, None when no credential was sent; raises Unauthorized on a bad one."""
        ...


class Anonymous:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def identify(self, scope: Scope) -> Identity | None:
        return None
