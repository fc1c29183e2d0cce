"""Signing keys: the accepted formats of JWT_PRIVATE_KEYS, and the standalone key shared
by every replica through JetStream."""

from __future__ import annotations

import asyncio
import json

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from auth_svc.app import create_app as create_auth
from auth_svc.codes import CodeHasher
from auth_svc.keys import KeyConfigError, SigningKeys, parse_private_keys
from gateway.app import create_app as create_gateway
from tests.support.auth import private_keys, signing_key
from tests.support.mesh import Mesh, client


def test_json_list_jwks_single_jwk_and_pem_are_accepted() -> None:
    a, b = signing_key("a"), signing_key("b")
    assert [k.kid for k in parse_private_keys(private_keys(a, b))] == ["a", "b"]
    jwks = json.dumps({"keys": [a.as_dict(private=True)]})
    assert [k.kid for k in parse_private_keys(jwks)] == ["a"]
    assert [k.kid for k in parse_private_keys(json.dumps(b.as_dict(private=True)))] == ["b"]
    pems = (a.as_pem(private=True) + b"\n" + b.as_pem(private=True)).decode()
    parsed = parse_private_keys(pems)
    # PEM has no kid: the RFC 7638 thumbprint names the key.
    assert [k.kid for k in parsed] == [a.thumbprint(), b.thumbprint()]
    assert parsed[0].as_dict(private=False)["x"] == a.as_dict(private=False)["x"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json and not pem",
        "[]",
        json.dumps([signing_key("pub").as_dict(private=False)]),
        json.dumps([ECKey.generate_key("P-384", private=True).as_dict(private=True)]),
        json.dumps([RSAKey.generate_key(2048, private=True).as_dict(private=True)]),
        json.dumps([OctKey.generate_key(256).as_dict(private=True)]),
        "[1, 2]",
    ],
    # Generated keys differ per run: stable ids keep collection identical across xdist workers.
    ids=["empty", "garbage", "no-keys", "public-only", "p384", "rsa", "symmetric", "not-objects"],
)
def test_unusable_keys_are_refused_at_start(value: str) -> None:
    with pytest.raises(KeyConfigError):
        SigningKeys(parse_private_keys(value))


def test_duplicate_kids_are_refused() -> None:
    with pytest.raises(KeyConfigError):
        SigningKeys([signing_key("same"), signing_key("same")])


def test_codes_sent_before_a_key_rotation_still_match() -> None:
    old, new = signing_key("old"), signing_key("new")
    before = CodeHasher(SigningKeys([old]).peppers())
    stored = before.hash("a@example.com", "login", "123456")
    after = CodeHasher(SigningKeys([new, old]).peppers())
    assert after.matches(stored, "a@example.com", "login", "123456")
    assert not after.matches(stored, "a@example.com", "login", "123457")
    assert not after.matches(stored, "b@example.com", "login", "123456")
    assert not CodeHasher(SigningKeys([new]).peppers()).matches(stored, "a@example.com", "login", "123456")


async def test_standalone_replicas_share_one_generated_key_across_restarts(stack: Mesh) -> None:
    settings = stack.settings
    assert settings.jwt_private_keys is None
    replicas = await asyncio.gather(*(stack.app(create_auth(settings)) for _ in range(3)))
    gateway = await stack.server(create_gateway(settings))
    async with client(gateway.url) as http:

        async def kid_sets() -> set[tuple[str, ...]]:
            answers = await asyncio.gather(*(http.get("/auth/.well-known/jwks.json") for _ in range(12)))
            return {tuple(k["kid"] for k in r.json()["keys"]) for r in answers}

        first = await kid_sets()
        assert len(first) == 1 and len(next(iter(first))) == 1
        for replica in replicas:
            await replica.stop()
        await stack.app(create_auth(settings))
        assert await kid_sets() == first
