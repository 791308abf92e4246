"""The network guard: feeds and pages never reach internal addresses unless the config allows them.

A feed's URL, every redirect on the way and every article link are resolved
here, at connection time (httpcore asks this backend for each new connection,
redirects included), and each address is checked with :mod:`ipaddress`:
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
import select
import socket
import ssl
import typing
from collections.abc import Iterable

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedAddress(httpcore.ConnectError):
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


def _literal(host: str) -> Address | None:
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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard accepts."""

    def __init__(self, allowed: Allowed) -> None:
        self.allowed = allowed
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.vetted(host, port)
        for address in addresses[:-1]:
            try:
                return CheapStream(
                    await self.inner.connect_tcp(
                        str(address), port, timeout, local_address, socket_options
                    )
                )
            except httpcore.ConnectError:
                continue
        return CheapStream(
            await self.inner.connect_tcp(
                str(addresses[-1]), port, timeout, local_address, socket_options
            )
        )

    async def vetted(self, host: str, port: int) -> list[Address]:
        """The addresses ``host`` resolves to, after the guard; RefusedAddress when none is left."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error.strerror}") from None
        addresses = list(
            dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
        )
        if self.allowed.host(host):
            return addresses
        refused = [
            (a, internal(a)) for a in addresses if internal(a) and not self.allowed.address(a)
        ]
        if refused:
            # One internal answer is enough to refuse: the host is not a public one.
            address, kind = refused[0]
            shown = host if _literal(host) == address else f"{host} ({address})"
            raise RefusedAddress(
                f"refused: {shown} is an internal address ({kind}); "
                "internal hosts are fetched only when collect.allow_hosts names them"
            )
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("refused: Unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class CheapStream(httpcore.AsyncNetworkStream):
    """A connection whose "is it readable?" costs one poll.

    httpcore asks it of every idle connection in the pool each time a request comes or goes
    (a server that closed a kept-alive connection makes it readable); anyio's stream looks
    the socket up anew at each question, which made that check the largest single cost of a
    run of 304s. The socket is the same for the connection's life, so it is looked up once.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self.inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return CheapStream(await self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self.inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    """True when ``sock`` has data or an end of stream waiting, or is closed (poll, not
    select: a process with many connections has descriptors past select's 1024)."""
    descriptor = sock.fileno()
    if descriptor < 0:
        return True
    poll = select.poll()
    poll.register(descriptor, select.POLLIN)
    return bool(poll.poll(0))


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that connects through :class:`GuardedBackend`."""

    def __init__(self, allowed: Allowed, *, limits: httpx.Limits) -> None:
        context = _ssl_context()
        super().__init__(verify=context, limits=limits, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: build it here.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed),
        )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: reading the CA bundle takes tens of milliseconds."""
    context: ssl.SSLContext = httpx.create_ssl_context(trust_env=False)
    return context
