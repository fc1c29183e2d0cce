"""The gateway's Authenticator: who is calling, verified without trusting the client.

- `Authorization: Bearer <jwt>`: ES256 only (the header's `alg` must be exactly that, so
  `none` and HS256-with-the-public-key never reach a verifier), the key picked by `kid`
  from auth_svc's JWKS (fetched over the bus, re-fetched on an unknown `kid` and every
  `jwks_refresh_interval`), then `iss`, `aud`, `exp`, `iat`, `sub`, `sid` checked.
- `X-API-Key`: its SHA-256 is checked by auth_svc over the bus; answers are cached for
  `api_key_cache_ttl` seconds.
- Revocations: a local mirror of the `revoked` bucket, fed by a watcher, so a revoked
  session or API key is refused by every replica as soon as the update arrives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import nats.errors
import structlog
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import ECKey
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from chassis.bridge import BusClient
from chassis.calls import BusCallError, BusError
from chassis.errors import HTTPError, ServiceUnavailable, Unauthorized
from chassis.settings import Settings
from gateway.asgi import Scope, header
from proto.auth import (
    ADMIN_CLAIM,
    ALGORITHM,
    API_KEY_VERIFY_PATH,
    INTERNAL_CALLER,
    JWKS_PATH,
    ApiKeyIdentity,
    ApiKeyVerify,
    Jwks,
    revoked_api_key_key,
    revoked_session_key,
)
from proto.identity import Identity
from proto.subjects import KV_REVOKED

log = structlog.get_logger("gateway.auth")

INTERNAL = Identity(user_id=INTERNAL_CALLER, via="internal")
# Sign-in endpoints ignore a broken or expired credential sent along, so a client holding
# an expired access token can still refresh or sign in again.
CREDENTIAL_OPTIONAL = frozenset(
    {
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/code",
        "/auth/code/verify",
        "/auth/magic-link",
        "/auth/magic-link/verify",
        "/auth/password/forgot",
        "/auth/password/reset",
        JWKS_PATH,
    }
)
MAX_TOKEN = 8192
CLOCK_LEEWAY = 30
# At most one JWKS fetch per this many seconds for unknown kids (a flood of made-up kids
# must not become a flood of bus calls).
UNKNOWN_KID_GAP = 1.0
BUS_TIMEOUT = 5.0
API_KEY_CACHE_MAX = 10_000
# Access tokens already verified, kept until they expire (the oldest go first past this many).
VERIFIED_MAX = 10_000
WATCH_READY_TIMEOUT = 15.0
PRUNE_EVERY = 60.0


class Mesh(Protocol):
    """What the authenticator needs from the gateway once it has started."""

    @property
    def nc(self) -> NATS: ...

    @property
    def js(self) -> JetStreamContext: ...

    @property
    def bus(self) -> BusClient: ...


def invalid(message: str, code: str = "invalid_token") -> Unauthorized:
    return Unauthorized(message, code=code, headers={"www-authenticate": 'Bearer error="invalid_token"'})


def _b64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class JwksCache:
    def __init__(self, fetch: Callable[[], Awaitable[list[dict[str, Any]]]], max_age: float) -> None:
        self.fetch = fetch
        self.max_age = max_age
        self.keys: dict[str, ECKey] = {}
        self.fetched_at = float("-inf")
        self.tried_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> ECKey | None:
        now = time.monotonic()
        if now - self.fetched_at > self.max_age:
            await self.refresh(strict=not self.keys)
        elif kid not in self.keys and now - self.tried_at >= UNKNOWN_KID_GAP:
            await self.refresh(strict=False)
        return self.keys.get(kid)

    async def refresh(self, *, strict: bool) -> None:
        """Re-read the JWKS; on failure keep the keys we have (raise only when we have none)."""
        started = time.monotonic()
        async with self._lock:
            if self.tried_at >= started:
                return  # Someone refreshed while we waited.
            self.tried_at = time.monotonic()
            try:
                found = await self.fetch()
            except HTTPError:
                if strict:
                    raise
                log.warning("could not refresh the JWKS; keeping the keys already known")
                return
            keys = {}
            for jwk in found:
                if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and isinstance(jwk.get("kid"), str):
                    try:
                        keys[jwk["kid"]] = ECKey.import_key(jwk)
                    except JoseError:
                        log.warning("ignoring an unreadable key in the JWKS", kid=jwk["kid"])
            self.keys = keys
            self.fetched_at = time.monotonic()


class RevokedMirror:
    """The keys of the `revoked` bucket, kept current by a watcher."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.seen: dict[str, float] = {}
        self.listeners: list[Callable[[str], None]] = []
        self._watcher: KeyValue.KeyWatcher | None = None
        self._task: asyncio.Task[None] | None = None

    def __contains__(self, key: str) -> bool:
        return key in self.seen

    async def start(self, kv: KeyValue) -> None:
        self._watcher = await kv.watchall()
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(self._watcher, ready))
        await asyncio.wait_for(ready, WATCH_READY_TIMEOUT)

    async def stop(self) -> None:
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, watcher: KeyValue.KeyWatcher, ready: asyncio.Future[None]) -> None:
        while True:
            try:
                entry = await watcher.updates(timeout=PRUNE_EVERY)  # type: ignore[no-untyped-call]
            except nats.errors.TimeoutError:
                self._prune()
                continue
            if entry is None:  # The watcher has replayed what the bucket held.
                if not ready.done():
                    ready.set_result(None)
                continue
            if not isinstance(entry, KeyValue.Entry):
                return  # Stopped.
            if entry.operation in ("DEL", "PURGE"):
                self.seen.pop(entry.key, None)
                continue
            self.seen[entry.key] = time.monotonic()
            for listener in self.listeners:
                listener(entry.key)

    def _prune(self) -> None:
        # The bucket forgets an entry after its TTL; by then every token it covered expired.
        horizon = time.monotonic() - self.ttl
        for key in [k for k, t in self.seen.items() if t < horizon]:
            del self.seen[key]


class GatewayAuthenticator:
    def __init__(self, settings: Settings, mesh: Mesh) -> None:
        self.settings = settings
        self.mesh = mesh
        self.jwks = JwksCache(self._fetch_jwks, settings.jwks_refresh_interval)
        self.revoked = RevokedMirror(settings.access_token_ttl + 60.0)
        self.revoked.listeners.append(self._on_revoked)
        self.claims = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": settings.jwt_issuer},
            aud={"essential": True, "value": settings.jwt_audience},
            sub={"essential": True},
            sid={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        # Called with a session id whenever a session is revoked (the SSE relay ends its streams),
        # and with a key id whenever an API key is.
        self.session_listeners: list[Callable[[str], None]] = []
        self.api_key_listeners: list[Callable[[str], None]] = []
        # SHA-256 of a presented key → (identity or None when unknown, key id, expiry).
        self.api_keys: dict[str, tuple[Identity | None, str | None, float]] = {}
        # An access token verified before → (the key that verified it, its identity, the last
        # second it is valid). The token's bytes include its signature, so the same string needs no
        # second verification (ES256, ~150 µs); its key must still be current, and revocation is
        # checked on every request.
        self.verified: dict[str, tuple[object, Identity, float]] = {}

    async def start(self) -> None:
        await self.revoked.start(await self.mesh.js.key_value(KV_REVOKED))

    async def stop(self) -> None:
        await self.revoked.stop()

    async def identify(self, scope: Scope) -> Identity | None:
        authorization = header(scope, b"authorization")
        api_key = header(scope, b"x-api-key")
        if not authorization and not api_key:
            return None
        try:
            if authorization:
                return await self.verify_bearer(authorization)
            assert api_key is not None
            return await self.verify_api_key(api_key)
        except Unauthorized:
            if scope["path"] in CREDENTIAL_OPTIONAL:
                return None
            raise

    async def verify_bearer(self, authorization: str) -> Identity:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise invalid("send the access token as `Authorization: Bearer <token>`")
        return await self.verify_token(token.strip())

    async def verify_token(self, token: str) -> Identity:
        parts = token.split(".")
        if len(token) > MAX_TOKEN or len(parts) != 3:
            raise invalid("the access token is malformed")
        try:
            head = _b64json(parts[0])
        except ValueError:
            raise invalid("the access token is malformed") from None
        # The allow-list: one algorithm, checked before any key is looked at.
        if not isinstance(head, dict) or head.get("alg") != ALGORITHM:
            raise invalid(f"access tokens must be signed with {ALGORITHM}")
        kid = head.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid("the access token names no signing key (kid)")
        key = await self.jwks.key(kid)
        if key is None:
            raise invalid("the access token was signed with an unknown key")
        known = self.verified.get(token)
        if known is not None and known[0] is key and time.time() <= known[2]:
            return self._unless_revoked(known[1])
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        except JoseError:
            raise invalid("the access token signature is not valid") from None
        try:
            self.claims.validate(claims)
        except ExpiredTokenError:
            raise invalid("the access token has expired; refresh it", code="token_expired") from None
        except JoseError as exc:
            raise invalid(f"the access token is not valid ({exc.description or exc.error})") from None
        user_id, session_id = claims["sub"], claims["sid"]
        if not isinstance(session_id, str):
            raise invalid("the access token is not valid (sid)")
        identity = Identity(
            user_id=user_id, session_id=session_id, via="token", is_admin=claims.get(ADMIN_CLAIM) is True
        )
        if len(self.verified) >= VERIFIED_MAX:
            del self.verified[next(iter(self.verified))]
        self.verified[token] = (key, identity, claims["exp"] + CLOCK_LEEWAY)
        return self._unless_revoked(identity)

    def _unless_revoked(self, identity: Identity) -> Identity:
        assert identity.session_id is not None
        if revoked_session_key(identity.session_id) in self.revoked:
            raise invalid("this session was signed out; sign in again", code="session_revoked")
        return identity

    async def verify_api_key(self, api_key: str) -> Identity:
        if len(api_key) > 256:
            raise invalid("the API key is not valid", code="invalid_api_key")
        key_hash = hashlib.sha256(api_key.encode()).hexdigest()
        now = time.monotonic()
        cached = self.api_keys.get(key_hash)
        if cached is None or cached[2] <= now:
            cached = (*await self._lookup_api_key(key_hash), now + self.settings.api_key_cache_ttl)
            self._remember(key_hash, cached)
        identity, key_id, _ = cached
        if identity is None or (key_id is not None and revoked_api_key_key(key_id) in self.revoked):
            raise invalid("the API key is not valid or was revoked", code="invalid_api_key")
        return identity

    async def _lookup_api_key(self, key_hash: str) -> tuple[Identity | None, str | None]:
        try:
            found = await self.mesh.bus.fetch(
                "auth",
                "POST",
                API_KEY_VERIFY_PATH,
                ApiKeyIdentity,
                json=ApiKeyVerify(key_hash=key_hash),
                identity=INTERNAL,
                timeout=BUS_TIMEOUT,
            )
        except BusCallError as exc:
            if exc.status == 404:
                return None, None
            raise ServiceUnavailable("API keys cannot be checked right now; retry shortly") from None
        except BusError:
            raise ServiceUnavailable("API keys cannot be checked right now; retry shortly") from None
        identity = Identity(
            user_id=found.user_id, via="api_key", is_admin=found.is_admin, api_key_id=found.key_id
        )
        return identity, found.key_id

    def _remember(self, key_hash: str, entry: tuple[Identity | None, str | None, float]) -> None:
        if len(self.api_keys) >= API_KEY_CACHE_MAX:
            now = time.monotonic()
            self.api_keys = {k: v for k, v in self.api_keys.items() if v[2] > now}
            if len(self.api_keys) >= API_KEY_CACHE_MAX:
                self.api_keys.clear()
        self.api_keys[key_hash] = entry

    def session_revoked(self, session_id: str) -> bool:
        return revoked_session_key(session_id) in self.revoked

    def api_key_revoked(self, key_id: str) -> bool:
        return revoked_api_key_key(key_id) in self.revoked

    def _on_revoked(self, key: str) -> None:
        if key.startswith(revoked_session_key("")):
            session_id = key.removeprefix(revoked_session_key(""))
            for listener in self.session_listeners:
                listener(session_id)
        elif key.startswith(revoked_api_key_key("")):
            key_id = key.removeprefix(revoked_api_key_key(""))
            for key_hash in [h for h, v in self.api_keys.items() if v[1] == key_id]:
                del self.api_keys[key_hash]
            for listener in self.api_key_listeners:
                listener(key_id)

    async def _fetch_jwks(self) -> list[dict[str, Any]]:
        try:
            return (await self.mesh.bus.fetch("auth", "GET", JWKS_PATH, Jwks, timeout=BUS_TIMEOUT)).keys
        except BusError:
            raise ServiceUnavailable(
                "tokens cannot be verified right now (no signing keys); retry shortly"
            ) from None
