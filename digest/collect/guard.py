"""The network guard: feeds and pages never reach internal addresses unless the config allows them.

A feed's URL, every redirect on the way and every article link are resolved
here, at connection time (:mod:`digest.collect.connections` asks for each new
connection, redirects included), and each address is checked with :mod:`ipaddress`:
loopback, private, link-local, multicast, reserved and unspecified addresses
are refused, whatever form the URL wrote them in (``2130706433``, ``0177.0.0.1``,
``[::ffff:169.254.169.254]`` all resolve to what they mean first). The
connection then goes to the address that was checked, so a second DNS answer
cannot swap it; the URL's host name still goes in the Host header and TLS SNI.

``collect.allow_hosts`` names the exceptions: host names, addresses or networks
(``intranet.example``, ``127.0.0.1``, ``10.0.0.0/8``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable

import httpx

from digest.errors import SourceError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedAddress(SourceError):
    """A host that resolves to an internal address the config does not allow."""


class Allowed:
    """The hosts and networks ``collect.allow_hosts`` lets through."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for entry in entries:
            network = parse_network(entry)
            if network is None:
                self.names.add(entry.strip().lower().rstrip("."))
            else:
                self.networks.append(network)

    def host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def address(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


def parse_network(entry: str) -> Network | None:
    """``entry`` as an address or network, or None for a host name."""
    try:
        return ipaddress.ip_network(entry.strip().strip("[]"), strict=False)
    except ValueError:
        return None


def internal(address: Address) -> str:
    """What kind of internal address this is ("loopback", ...); empty for a public one."""
    for embedded in _embedded(address):
        kind = internal(embedded)
        if kind:
            return kind
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "" if address.is_global else "non-global"


def literal(host: str) -> Address | None:
    """The address a host names when it is an address literal, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _embedded(address: Address) -> list[Address]:
    """IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        found += list(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


async def vetted(host: str, port: int, allowed: Allowed) -> list[Address]:
    """The addresses ``host`` resolves to, after the guard; RefusedAddress when none is left."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise SourceError(f"cannot connect: cannot resolve {host}: {error.strerror}") from None
    addresses = list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )
    if allowed.host(host):
        return addresses
    refused = [(a, internal(a)) for a in addresses if internal(a) and not allowed.address(a)]
    if refused:
        # One internal answer is enough to refuse: the host is not a public one.
        address, kind = refused[0]
        shown = host if literal(host) == address else f"{host} ({address})"
        raise RefusedAddress(
            f"refused: {shown} is an internal address ({kind}); "
            "internal hosts are fetched only when collect.allow_hosts names them"
        )
    return addresses


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context per process: reading the CA bundle takes tens of milliseconds."""
    context: ssl.SSLContext = httpx.create_ssl_context(trust_env=False)
    return context
