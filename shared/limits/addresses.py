"""The client address a limit counts: the peer, or what a trusted proxy says it forwarded."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def trusted_networks(spec: str) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` ("127.0.0.1,10.0.0.0/8") as networks; bad entries are ignored."""
    nets: list[Network] = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                continue
    return tuple(nets)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(addr: str, nets: tuple[Network, ...]) -> bool:
    ip = _ip(addr)
    return ip is not None and any(ip in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None, trusted: str) -> str:
    """The address to count: ``X-Forwarded-For`` is read only when the peer is a trusted
    proxy, right to left, skipping the trusted hops, so a client cannot pick its own
    address by sending the header itself."""
    peer = (peer or "").strip() or "unknown"
    nets = trusted_networks(trusted)
    if not forwarded_for or not _trusted(peer, nets):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _ip(hop) is None:
            return peer  # a mangled header: count the proxy, not a made-up name
        if not _trusted(hop, nets):
            return hop
    return hops[0] if hops else peer
