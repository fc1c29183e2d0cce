"""The caller's address, as rate limits and session records see it: the TCP peer, unless the
peer is a trusted proxy (TRUSTED_PROXIES); then the right-most `X-Forwarded-For` hop that is not
a trusted proxy. Hops left of it were written by the caller and prove nothing."""

from __future__ import annotations

import ipaddress

from gateway.asgi import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7` → networks; ValueError naming the entry that is not one."""
    networks: list[Network] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an address or CIDR") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def client_address(scope: Scope, trusted: tuple[Network, ...]) -> str:
    peer = scope.get("client")
    client = peer[0] if peer else ""
    current = _address(client)
    if not trusted or current is None or not any(current in net for net in trusted):
        return client
    hops = [
        hop
        for name, value in scope["headers"]
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage: the last trusted hop is the best we know
        current = address
        if not any(address in net for net in trusted):
            break
    return str(current)
