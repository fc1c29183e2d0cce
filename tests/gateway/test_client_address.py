"""Which address the rate limits count: the peer, unless the peer is a trusted proxy; then the
right-most X-Forwarded-For hop that is not one. Through real processes (auth_svc's per-client
login limit, two gateways: one trusting no proxy, the default, and one trusting loopback)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.client_address import Network, client_address, parse_networks
from tests.support.procs import Proc, Procs
from tests.support.users import sign_up

PER_CLIENT = 2


@dataclass
class Gateways:
    default: Proc
    behind_proxy: Proc


@pytest.fixture
async def gateways(procs: Procs) -> Gateways:
    auth = procs.start("auth", "auth_svc", LOGIN_RATE_PER_CLIENT=str(PER_CLIENT), LOGIN_RATE_PER_EMAIL="1000")
    default = procs.start("gateway", "gateway")
    behind_proxy = procs.start("gateway-proxied", "gateway", TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.0/8")
    await procs.wait_ready([auth])
    for gw in (default, behind_proxy):
        await gw.wait_alive()
    return Gateways(default, behind_proxy)


async def login_statuses(gateway: Proc, forwarded_for: list[str]) -> list[int]:
    """One wrong-password login per X-Forwarded-For value, all from this test's loopback peer."""
    statuses = []
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30.0) as http:
        for xff in forwarded_for:
            r = await http.post(
                "/auth/login",
                json={"email": f"x-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong password"},
                headers={"x-forwarded-for": xff},
            )
            statuses.append(r.status_code)
    return statuses


async def test_forwarded_for_is_ignored_by_default(gateways: Gateways) -> None:
    # Three "different" clients, one peer: the peer is what is counted.
    statuses = await login_statuses(gateways.default, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    assert statuses == [401, 401, 429]


async def test_forwarded_for_is_believed_from_a_trusted_proxy(gateways: Gateways) -> None:
    statuses = await login_statuses(gateways.behind_proxy, ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
    assert statuses == [401, 401, 401]


async def test_spoofed_left_most_hops_are_ignored(gateways: Gateways) -> None:
    # The caller writes what it likes on the left; the trusted proxy (10.1.2.3) appended the
    # real client, 192.0.2.9, which is the one counted each time.
    spoofed = [f"1.1.1.{i}, 192.0.2.9, 10.1.2.3" for i in range(3)]
    assert await login_statuses(gateways.behind_proxy, spoofed) == [401, 401, 429]


async def test_session_records_the_forwarded_client(gateways: Gateways) -> None:
    headers = {"x-forwarded-for": "garbage, 192.0.2.44"}
    async with httpx.AsyncClient(base_url=gateways.behind_proxy.url, timeout=30.0, headers=headers) as http:
        user = await sign_up(http)
        r = await http.get("/auth/sessions", headers=user.headers)
    assert r.status_code == 200, r.text
    assert [s["client"] for s in r.json()["data"]] == ["192.0.2.44"]


TRUSTED = parse_networks("10.0.0.0/8, 2001:db8::/32, 127.0.0.1")


def scope(peer: str | None, *xff: str) -> dict[str, Any]:
    return {
        "client": (peer, 1234) if peer else None,
        "headers": [(b"x-forwarded-for", v.encode()) for v in xff],
    }


@pytest.mark.parametrize(
    ("peer", "xff", "expected", "trusted"),
    [
        ("203.0.113.5", ["1.2.3.4"], "203.0.113.5", TRUSTED),  # an untrusted peer's header is ignored
        ("10.0.0.1", ["1.2.3.4"], "10.0.0.1", ()),  # no trusted proxies: never believed
        ("10.0.0.1", ["6.6.6.6, 1.2.3.4"], "1.2.3.4", TRUSTED),
        ("10.0.0.1", ["6.6.6.6, 1.2.3.4, 10.9.9.9"], "1.2.3.4", TRUSTED),  # two proxies
        ("10.0.0.1", ["6.6.6.6", "1.2.3.4"], "1.2.3.4", TRUSTED),  # split over two header lines
        ("10.0.0.1", ["10.2.2.2, 10.3.3.3"], "10.2.2.2", TRUSTED),  # all proxies: the left-most
        ("10.0.0.1", ["1.2.3.4, not-an-ip, 10.3.3.3"], "10.3.3.3", TRUSTED),  # garbage: last proxy
        ("10.0.0.1", [], "10.0.0.1", TRUSTED),
        ("::ffff:10.0.0.1", ["1.2.3.4"], "1.2.3.4", TRUSTED),  # IPv4-mapped peer
        ("2001:db8::1", ["2001:db9::7"], "2001:db9::7", TRUSTED),
        (None, ["1.2.3.4"], "", TRUSTED),  # a Unix socket has no peer address
    ],
)
def test_right_most_untrusted_hop(
    peer: str | None, xff: list[str], expected: str, trusted: tuple[Network, ...]
) -> None:
    assert client_address(scope(peer, *xff), trusted) == expected


def test_a_bad_trusted_proxies_entry_is_named() -> None:
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        parse_networks("10.0.0.0/8, 10.0.0.300")
