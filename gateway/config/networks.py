"""Whether a peer address is in a list of networks: ``[smtp] trusted_networks``.

The lists are CIDR strings, validated at load (``checks.networks``) and
kept as written so that the settings stay plain, hashable values.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Final

LOOPBACK: Final = ("127.0.0.0/8", "::1/128")


def in_networks(peer: str, networks: tuple[str, ...]) -> bool:
    """Whether the address of ``peer`` is in one of ``networks`` (CIDR strings, validated at load)."""
    if not networks or not peer:
        return False
    host = peer.strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _parsed_networks(networks))


@functools.lru_cache(maxsize=64)
def _parsed_networks(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parsed once per list: this is asked for every mail from the MTA."""
    return tuple(ipaddress.ip_network(network.strip(), strict=False) for network in networks)
