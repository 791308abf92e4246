"""HTTP/1.1 connections for collect: h11 speaks the protocol, every new connection passes the guard.

h11 reads and writes HTTP/1.1 (request and response heads, Content-Length and
chunked bodies, when a connection may be kept); this module opens connections,
only to addresses :func:`digest.collect.guard.vetted` accepts, and keeps idle
ones for the next request to the same origin. Why not httpx: on a run of 200
conditional GETs that a server answers 304 at once, httpx, httpcore's pool (which
looks at every connection for every waiting request) and anyio cost about a
millisecond of CPU per request, eight times what h11 over asyncio streams costs.

Errors: :class:`SourceError` for what the guard refuses and for connections that
cannot be made; ``h11.RemoteProtocolError`` for a server that breaks the protocol
(:class:`Disconnected` when it closes a connection without answering); ``OSError``
for a connection lost on the way. Time limits are the caller's, except the
connection's own (``connect_timeout``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import SupportsIndex

import h11

from digest.collect.guard import Address, Allowed, ssl_context, vetted
from digest.errors import SourceError

MAX_HEAD = 100 * 1024
"""Bytes a response's status line and headers may take (h11 refuses a larger head)."""
READ_SIZE = 65536
KEEP_IDLE = 5.0
"""Seconds an idle connection is kept for the next request to its origin."""


class Disconnected(h11.RemoteProtocolError):
    """The server closed the connection before it began its answer."""


class Reader(asyncio.StreamReader):
    """A StreamReader that knows whether anything arrived that was not asked for: bytes left
    unread when the connection went idle, or coming while it is idle (over TLS as well, where
    the socket shows nothing: the TLS layer has read them already)."""

    def __init__(self, *, limit: int) -> None:
        super().__init__(limit=limit)
        self.unread = 0
        self.idle = False
        self.unasked = False

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:  # bytes, from the protocol
        size = len(bytes(data)) if not isinstance(data, bytes | bytearray) else len(data)
        self.unread += size
        self.unasked |= self.idle and size > 0
        super().feed_data(data)

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        self.unread -= len(data)
        return data


@dataclass(frozen=True)
class Origin:
    """Where a connection goes: scheme, host (IDNA-encoded) and port."""

    scheme: str
    host: str
    port: int


class Connection:
    """One HTTP/1.1 connection: a request at a time, its answer read as it arrives."""

    def __init__(self, origin: Origin, reader: Reader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader, self.writer = reader, writer
        self.protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.idle_since = 0.0
        self.used = False
        """True once it has carried a request (a connection the server may since have closed)."""

    async def request(self, target: bytes, headers: list[tuple[bytes, bytes]]) -> h11.Response:
        """Send a GET for ``target``; the answer's status and headers."""
        self.used = True
        data = self.protocol.send(h11.Request(method=b"GET", target=target, headers=headers))
        self.writer.write(data + self.protocol.send(h11.EndOfMessage()))
        await self.writer.drain()
        while True:
            event = await self._next()
            if isinstance(event, h11.Response):
                return event
            # 1xx answers (100 Continue, 103 Early Hints) come before the real one.

    async def body(self) -> AsyncIterator[bytes]:
        """The answer's body, in the chunks it arrives in (h11 undoes chunked encoding)."""
        while not isinstance(event := await self._next(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                yield bytes(event.data)

    async def _next(self) -> h11.Event:
        while True:
            event = self.protocol.next_event()
            if isinstance(event, h11.Event) and not isinstance(event, h11.ConnectionClosed):
                return event
            if event is not h11.NEED_DATA:  # closed, or PAUSED: a second answer unasked
                raise h11.RemoteProtocolError("the connection ended in the middle of the answer")
            data = await self.reader.read(READ_SIZE)
            if not data and self.protocol.their_state is h11.SEND_RESPONSE:
                raise Disconnected("Server disconnected without sending a response.")
            self.protocol.receive_data(data)

    def reusable(self) -> bool:
        """True when the exchange ended cleanly, both sides may go on (h11 knows), and the
        server sent nothing past its answer (an answer unasked is never read as the next)."""
        states = self.protocol.our_state is self.protocol.their_state is h11.DONE
        return states and not self.protocol.trailing_data[0]

    def park(self) -> None:
        """Idle: whatever arrives from now on (or is left unread) was not asked for."""
        self.reader.idle = True
        self.reader.unasked |= self.reader.unread > 0

    def unpark(self) -> None:
        self.reader.idle = False

    def stale(self) -> bool:
        """True when the server closed the parked connection, or sent something unasked."""
        return self.reader.unasked or self.reader.at_eof() or self.reader.exception() is not None

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Connections by origin: an idle one is reused when the server kept it, else one is opened.

    At most ``keep`` idle connections are kept (the callers bound how many are in use).
    """

    def __init__(self, allowed: Allowed, *, connect_timeout: float, keep: int) -> None:
        self.allowed = allowed
        self.connect_timeout = connect_timeout
        self.keep = keep
        self._idle: dict[Origin, list[Connection]] = {}
        self._count = 0

    @asynccontextmanager
    async def connection(self, origin: Origin, *, fresh: bool = False) -> AsyncIterator[Connection]:
        """A connection to ``origin`` for one exchange (a new one when ``fresh``); kept
        afterwards if the exchange ended cleanly, else closed."""
        connection = None if fresh else self._reuse(origin)
        if connection is None:
            connection = await self._open(origin)
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        self._release(connection)

    def _reuse(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        deadline = asyncio.get_running_loop().time() - KEEP_IDLE
        while idle:
            connection = idle.pop()
            self._count -= 1
            if connection.idle_since > deadline and not connection.stale():
                connection.unpark()
                return connection
            connection.close()
        return None

    def _release(self, connection: Connection) -> None:
        if not connection.reusable() or self._count >= self.keep:
            connection.close()
            return
        connection.protocol.start_next_cycle()
        connection.park()
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._count += 1

    async def _open(self, origin: Origin) -> Connection:
        """A new connection to the first of the host's vetted addresses that answers."""
        addresses = await vetted(origin.host, origin.port, self.allowed)
        for address in addresses[:-1]:
            try:
                return await self._connect(origin, address)
            except SourceError:
                continue
        return await self._connect(origin, addresses[-1])

    async def _connect(self, origin: Origin, address: Address) -> Connection:
        tls = ssl_context() if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout) as limit:
                loop = asyncio.get_running_loop()
                reader = Reader(limit=READ_SIZE)
                # asyncio.open_connection's own steps, with a Reader of ours.
                transport, protocol = await loop.create_connection(
                    lambda: asyncio.StreamReaderProtocol(reader),
                    str(address),
                    origin.port,
                    ssl=tls,
                    # The name, not the address, is what the certificate must match.
                    server_hostname=origin.host if tls else None,
                )
                writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        except TimeoutError:
            if not limit.expired():
                raise  # the caller's time limit, not the connection's
            raise SourceError("timed out while connecting") from None
        except OSError as error:  # ssl.SSLError among them
            raise SourceError(f"cannot connect: {error}") from None
        return Connection(origin, reader, writer)

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._count = 0
