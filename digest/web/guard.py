"""What every response and connection gets: security headers, the client's real address, and
a deadline for receiving a whole request.

The request body's size is limited by Starlette itself (``max_body_size``: a declared
Content-Length over the limit, and a chunked body once it passes it, get 413); h11 refuses a
Content-Length that is not a number. :class:`DeadlineProtocol` closes a connection that has
not delivered a whole request (head and body) within :data:`REQUEST_DEADLINE` seconds of
opening or of its previous response, which uvicorn alone does not do for a slow sender, and
sets TCP_NODELAY on it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import h11
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_DEADLINE = 15.0
"""Seconds a client has to send one whole request."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' https: http: data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "form-action 'self'; base-uri 'none'"
)
"""The editions' own inline styles and hosted pictures; scripts only from /static/."""

HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """Adds :data:`HEADERS` to every response, and HSTS to those that went out over https."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted = networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(Request(scope), self.trusted)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [h for h in HEADERS if h[0] not in present]
                if https:
                    extra.append(HSTS)
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def networks(items: Iterable[str]) -> Networks:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(peer: str, trusted: Networks) -> bool:
    address = _address(peer)
    return address is not None and any(address in network for network in trusted)


def client_address(request: Request, trusted: Networks) -> str:
    """Who sent the request: the peer, or, behind a trusted proxy, the nearest untrusted
    address in X-Forwarded-For. An IPv6 client counts as its /64 (one household, one limit)."""
    peer = request.client.host if request.client else ""
    if _trusted(peer, trusted):
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            peer = hop
            if not _trusted(hop, trusted):
                break
    address = _address(peer)
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def is_https(request: Request, trusted: Networks) -> bool:
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and _trusted(peer, trusted)


FORWARDING = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def is_local(request: Request) -> bool:
    """A request from this machine itself, not relayed by a proxy."""
    peer = _address(request.client.host if request.client else "")
    relayed = any(name in request.headers for name in FORWARDING)
    return peer is not None and peer.is_loopback and not relayed


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for receiving each whole request."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Without it a response written in two parts (head, body) waits ~40 ms for the
            # client's delayed ACK (Nagle's algorithm).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(REQUEST_DEADLINE, self._expire)

    def _expire(self) -> None:
        # DONE: the whole request is in and the application is answering; leave it be.
        if self.conn.their_state is not h11.DONE and not self.transport.is_closing():
            self.transport.close()
