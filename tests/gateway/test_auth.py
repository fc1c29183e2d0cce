"""The gateway enforcing auth: JWT verification from the JWKS, rejections, key rotation,
revocation on every replica, API keys. Real nats-server, auth_svc and gateways."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from auth_svc.app import create_app as create_auth
from chassis.settings import Settings
from gateway.app import create_app as create_gateway
from tests.support import sample
from tests.support.auth import bearer, error_code, login, new_email, private_keys, register, signing_key
from tests.support.mesh import Mesh, RunningServer, client
from tests.support.pg import fresh_database
from tests.support.poll import eventually
from tests.support.sample import SAMPLE_ROUTES

KEY_A = signing_key("key-a")
KEY_B = signing_key("key-b")
INTRUDER = signing_key("intruder")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(jwt_private_keys=private_keys(KEY_A), admin_emails="boss@example.com")


async def start(stack: Mesh, settings: Settings, gateways: int = 1) -> list[RunningServer]:
    await stack.app(create_auth(settings))
    await stack.app(sample.create_app(settings))
    return [await stack.server(create_gateway(settings, routes=SAMPLE_ROUTES)) for _ in range(gateways)]


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: ECKey, body: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode({"alg": "ES256", "kid": kid or key.kid}, body, key, algorithms=["ES256"])


def hs256(secret: bytes, body: dict[str, Any], kid: str) -> str:
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64(body)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


async def whoami(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get("/sample/whoami", headers=bearer(token))


async def test_a_valid_token_reaches_the_service_as_an_identity(stack: Mesh, settings: Settings) -> None:
    [gw] = await start(stack, settings)
    body = claims(settings)
    async with client(gw.url) as http:
        r = await whoami(http, sign(KEY_A, body))
        assert r.status_code == 200, r.text
        identity = r.json()["data"]["identity"]
        assert identity == {"user_id": body["sub"], "session_id": body["sid"]}
        # The credential itself never crosses the bridge.
        assert r.json()["data"]["authorization"] is None
        r = await http.get("/sample/whoami")
        assert r.json()["data"]["identity"] is None
        assert (await http.get("/sample/private")).status_code == 401


async def test_admin_flag_travels_in_the_token(stack: Mesh, settings: Settings) -> None:
    [gw] = await start(stack, settings)
    async with client(gw.url) as http:
        boss = await register(http, "Boss@example.com")
        assert boss["user"]["is_admin"] is True
        r = await whoami(http, boss["access_token"])
        assert r.json()["data"]["identity"]["is_admin"] is True
        nobody = await register(http)
        r = await whoami(http, nobody["access_token"])
        assert r.json()["data"]["identity"].get("is_admin", False) is False


def rejections(settings: Settings) -> dict[str, tuple[str, str]]:
    """name → (token, expected error code); each must be refused with 401."""
    good = claims(settings)
    valid = sign(KEY_A, good)
    head, payload, signature = valid.split(".")
    public_pem = KEY_A.as_pem(private=False)
    public_jwk = json.dumps(KEY_A.as_dict(private=False)).encode()
    tampered_body = dict(good, sub=str(uuid.uuid4()))
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    return {
        "alg none": (f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'key-a'})}.{payload}.", "invalid_token"),
        "alg None": (f"{b64({'alg': 'None', 'kid': 'key-a'})}.{payload}.", "invalid_token"),
        "alg missing": (f"{b64({'kid': 'key-a'})}.{payload}.{signature}", "invalid_token"),
        "HS256 with the public PEM": (hs256(public_pem, good, "key-a"), "invalid_token"),
        "HS256 with the public JWK": (hs256(public_jwk, good, "key-a"), "invalid_token"),
        "expired": (
            sign(KEY_A, claims(settings, iat=int(time.time()) - 1200, exp=int(time.time()) - 120)),
            "token_expired",
        ),
        "tampered payload": (f"{head}.{b64(tampered_body)}.{signature}", "invalid_token"),
        "tampered signature": (f"{head}.{payload}.{flipped}", "invalid_token"),
        "wrong aud": (sign(KEY_A, claims(settings, aud="someone-else")), "invalid_token"),
        "wrong iss": (sign(KEY_A, claims(settings, iss="https://evil.example")), "invalid_token"),
        "no sid": (sign(KEY_A, claims(settings, sid=None)), "invalid_token"),
        "issued in the future": (sign(KEY_A, claims(settings, iat=int(time.time()) + 3600)), "invalid_token"),
        "unknown kid": (sign(INTRUDER, good), "invalid_token"),
        "known kid, other key": (sign(INTRUDER, good, kid="key-a"), "invalid_token"),
        "no kid": (jwt.encode({"alg": "ES256"}, good, KEY_A, algorithms=["ES256"]), "invalid_token"),
        "not a jwt": ("hello", "invalid_token"),
        "garbage header": (f"!!!.{payload}.{signature}", "invalid_token"),
    }


async def test_every_forged_or_stale_token_is_refused_with_401(stack: Mesh, settings: Settings) -> None:
    [gw] = await start(stack, settings)
    async with client(gw.url) as http:
        assert (await whoami(http, sign(KEY_A, claims(settings)))).status_code == 200
        for name, (token, code) in rejections(settings).items():
            r = await whoami(http, token)
            assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
            assert error_code(r) == code, f"{name}: {r.text}"
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        r = await http.get("/sample/whoami", headers={"authorization": "Basic dXNlcjpwYXNz"})
        assert r.status_code == 401


async def test_a_token_accepted_before_is_refused_once_it_expires(stack: Mesh, settings: Settings) -> None:
    """The gateway verifies a token's signature once and remembers it: that memory ends with the
    token (its `exp` plus the clock leeway), as the first verification would have."""
    [gw] = await start(stack, settings)
    leeway = 30  # gateway.auth.CLOCK_LEEWAY
    expires = int(time.time()) - leeway + 2  # still accepted for about 2 s
    token = sign(KEY_A, claims(settings, iat=expires - 900, exp=expires))
    async with client(gw.url) as http:
        assert (await whoami(http, token)).status_code == 200
        assert (await whoami(http, token)).status_code == 200  # the remembered verification

        async def refused() -> bool:
            r = await whoami(http, token)
            return r.status_code == 401 and error_code(r) == "token_expired"

        await eventually(refused, timeout=10)


async def test_revoked_session_is_refused_and_a_late_replica_knows_it(
    stack: Mesh, settings: Settings
) -> None:
    [gw] = await start(stack, settings)
    async with client(gw.url) as http:
        account = await register(http)
        token = account["access_token"]
        assert (await whoami(http, token)).status_code == 200
        assert (await http.post("/auth/logout", headers=bearer(token))).status_code == 204

        async def refused() -> bool:
            r = await whoami(http, token)
            return r.status_code == 401 and error_code(r) == "session_revoked"

        await eventually(refused)
    # A gateway that starts after the logout replays the bucket before serving.
    late = await stack.server(create_gateway(settings, routes=SAMPLE_ROUTES))
    async with client(late.url) as http:
        r = await whoami(http, token)
        assert r.status_code == 401 and error_code(r) == "session_revoked"


async def test_logout_is_refused_on_two_gateway_replicas_within_a_second(
    stack: Mesh, settings: Settings
) -> None:
    gw1, gw2 = await start(stack, settings, gateways=2)
    async with client(gw1.url) as one, client(gw2.url) as two:
        account = await register(one)
        token = account["access_token"]
        assert (await whoami(one, token)).status_code == 200
        assert (await whoami(two, token)).status_code == 200
        assert (await one.post("/auth/logout", headers=bearer(token))).status_code == 204
        logged_out = time.monotonic()

        async def refused_by(http: httpx.AsyncClient) -> float:
            while True:
                r = await whoami(http, token)
                if r.status_code == 401:
                    assert error_code(r) == "session_revoked"
                    return time.monotonic() - logged_out
                assert time.monotonic() - logged_out < 10, "revocation never arrived"
                await asyncio.sleep(0.01)

        delays = await asyncio.gather(refused_by(one), refused_by(two))
    print(f"revocation seen after {delays[0] * 1000:.1f} ms and {delays[1] * 1000:.1f} ms")
    assert max(delays) < 1.0, delays


async def test_api_key_revocation_reaches_both_gateways_despite_their_cache(
    stack: Mesh, settings: Settings
) -> None:
    # A long cache: only the revocation watcher can make the gateways forget the key.
    settings = msgspec.structs.replace(settings, api_key_cache_ttl=3600.0)
    gw1, gw2 = await start(stack, settings, gateways=2)
    async with client(gw1.url) as one, client(gw2.url) as two:
        account = await register(one)
        r = await one.post("/auth/api-keys", json={"name": "bot"}, headers=bearer(account["access_token"]))
        created = r.json()["data"]
        key = {"x-api-key": created["key"]}
        for http in (one, two):
            r = await http.get("/sample/whoami", headers=key)
            assert r.json()["data"]["identity"] == {
                "user_id": account["user"]["id"],
                "via": "api_key",
                "api_key_id": created["id"],
            }
        r = await one.delete(f"/auth/api-keys/{created['id']}", headers=bearer(account["access_token"]))
        assert r.status_code == 204
        for http in (one, two):

            async def refused(http: httpx.AsyncClient = http) -> bool:
                r = await http.get("/sample/whoami", headers=key)
                return r.status_code == 401 and error_code(r) == "invalid_api_key"

            assert await eventually(refused) < 1.0


async def test_signing_key_rotation_keeps_old_tokens_valid(
    stack: Mesh, make_settings: Callable[..., Settings], postgres_url: str
) -> None:
    database = await fresh_database(postgres_url)
    only_a = make_settings(
        jwt_private_keys=private_keys(KEY_A), database_url=database, jwks_refresh_interval=2.0
    )
    auth = await stack.app(create_auth(only_a))
    await stack.app(sample.create_app(only_a))
    gw = await stack.server(create_gateway(only_a, routes=SAMPLE_ROUTES))
    email = new_email("rotate")
    async with client(gw.url) as http:
        token_a = (await register(http, email))["access_token"]
        assert (await whoami(http, token_a)).status_code == 200

        # Step 1 and 2 of the procedure: B added in front (signs), A kept (verifies).
        await auth.stop()
        both = make_settings(jwt_private_keys=private_keys(KEY_B, KEY_A), database_url=database)
        auth = await stack.app(create_auth(both))
        token_b = (await login(http, email))["access_token"]
        assert json.loads(base64.urlsafe_b64decode(token_b.split(".")[0] + "=="))["kid"] == "key-b"

        async def accepted(token: str) -> bool:
            return (await whoami(http, token)).status_code == 200

        # The gateway has only A cached: the unknown kid makes it re-read the JWKS.
        await eventually(lambda: accepted(token_b))
        assert await accepted(token_a)
        jwks = (await http.get("/auth/.well-known/jwks.json")).json()
        assert (
            [k["kid"] for k in jwks["keys"]] == ["key-b", "key-a"] == [k["kid"] for k in jwks["data"]["keys"]]
        )
        assert all("d" not in k for k in jwks["keys"])

        # Step 3, once A's tokens have expired: A removed; gateways drop it at their next refresh.
        await auth.stop()
        await stack.app(
            create_auth(make_settings(jwt_private_keys=private_keys(KEY_B), database_url=database))
        )

        async def a_refused() -> bool:
            r = await whoami(http, token_a)
            return r.status_code == 401 and "unknown key" in r.json()["error"]["message"]

        await eventually(a_refused)
        assert await accepted(token_b)


async def test_tokens_cannot_be_checked_without_auth_svc(stack: Mesh, settings: Settings) -> None:
    await stack.app(sample.create_app(settings))
    gw = await stack.server(create_gateway(settings, routes=SAMPLE_ROUTES))
    async with client(gw.url) as http:
        r = await whoami(http, sign(KEY_A, claims(settings)))
        assert r.status_code == 503
        assert (await http.get("/sample/whoami")).status_code == 200
