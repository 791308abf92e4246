"""HTTP for collect: one bounded, polite client per run, and bodies decoded the way servers meant.

Bounds: requests in flight in total and per host, a connect timeout and a total
timeout per request (redirects included), a size cap on every body (checked
while streaming, so a huge or endless body is cut off early), a limit on
redirects. Every network failure becomes a SourceError with one clear line.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import count
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from digest import __version__
from digest.collect.guard import Allowed, GuardedTransport, RefusedAddress
from digest.config import CollectConfig
from digest.errors import SourceError

USER_AGENT = (
    f"digest/{__version__} (newsletter digest; fetches each feed at most every few minutes)"
)
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a connection; the total timeout still bounds the whole request."""
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Response:
    """What one GET returned, with the body already read (and capped)."""

    url: str
    """Where the body finally came from, after redirects."""
    status: int
    headers: httpx.Headers
    body: bytes
    permanent_redirect: bool
    """True when every redirect on the way was permanent (301, 308): remember ``url``."""


class HostGate(Protocol):
    """The per-host limits shared with every other process that collects (the store keeps
    them: :mod:`digest.pipeline.politeness`). A request holds one of its host's
    ``collect.per_host`` places while it runs, and starts ``collect.host_interval`` or more
    after the one before it, whichever process sent that one."""

    def enter(self, host: str, ticket: str) -> float:
        """Take a place at ``host`` for ``ticket`` and the right to start now: 0.0 when both
        are taken, else the seconds to wait before asking again (a place once taken is kept)."""
        ...

    def leave(self, host: str, ticket: str) -> None:
        """Give ``ticket``'s place at ``host`` back."""
        ...


class Fetcher:
    """One HTTP client with the configured bounds, shared by every request of a run."""

    def __init__(self, settings: CollectConfig, *, gate: HostGate | None = None) -> None:
        self.settings = settings
        self.gate = gate
        self._tickets = count()
        seconds = settings.timeout.total_seconds()
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(Allowed(settings.allow_hosts), limits=limits),
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT)),
            headers={
                "User-Agent": settings.user_agent or USER_AGENT,
                "Accept-Encoding": ", ".join(_WBITS),
            },
            trust_env=False,
        )
        self._all = asyncio.Semaphore(settings.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host)
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """GET ``url``; raise SourceError with one clear line on any network failure."""
        host = urlsplit(url).netloc
        seconds = self.settings.timeout.total_seconds()
        try:
            async with self._all, self._hosts[host], self._shared(host):
                async with asyncio.timeout(seconds):
                    return await self._get(url, headers or {})
        except TimeoutError:
            raise SourceError(f"timed out after {seconds:g}s") from None
        except httpx.TooManyRedirects:
            raise SourceError(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)") from None
        except httpx.InvalidURL as error:
            raise SourceError(f"invalid URL: {error}") from None
        except httpx.HTTPError as error:
            raise SourceError(_describe_http_error(error)) from None

    @asynccontextmanager
    async def _shared(self, host: str) -> AsyncIterator[None]:
        """A place at ``host`` among every process's requests (when a gate is given).

        Redirects to another host count against the first one's place.
        """
        if self.gate is None:
            yield
            return
        ticket = f"{id(self):x}.{next(self._tickets)}"
        try:
            while wait := self.gate.enter(host, ticket):
                await asyncio.sleep(wait)
            yield
        finally:
            self.gate.leave(host, ticket)

    async def _get(self, url: str, headers: dict[str, str]) -> Response:
        async with self.client.stream("GET", url, headers=headers) as response:
            limit = self.settings.max_bytes
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise SourceError(_over_cap(limit, int(declared)))
            decoder = Decoder(response.headers.get("content-encoding", ""), limit=limit)
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += decoder.decode(chunk)
            body += decoder.flush()
            permanent = bool(response.history) and all(
                r.status_code in (301, 308) for r in response.history
            )
            return Response(
                str(response.url),
                response.status_code,
                response.headers,
                gunzip(bytes(body), limit=limit),
                permanent,
            )


def _over_cap(limit: int, size: int | None = None) -> str:
    what = f"body of {size:,} bytes" if size is not None else "body"
    return f"{what} is over the {limit:,}-byte cap (collect.max_bytes)"


def _describe_http_error(error: httpx.HTTPError) -> str:
    if isinstance(error.__cause__, RefusedAddress):
        return str(error.__cause__)
    if isinstance(error, httpx.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect: {error or 'connection refused'}"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"the server broke the HTTP protocol: {error}"
    if isinstance(error, httpx.DecodingError):
        return f"cannot decode the body: {error}"
    return f"{type(error).__name__}: {error}"


class Decoder:
    """Undoes a body's Content-Encoding layers as it streams in, never holding more than ``limit``.

    Each layer's output is capped as it is produced (``max_length``), so a small
    compressed bomb, even one compressed twice, is stopped after ``limit`` bytes
    instead of being expanded first and measured afterwards.
    """

    def __init__(self, header: str, *, limit: int) -> None:
        encodings = [e.strip().lower() for e in header.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > MAX_ENCODINGS:
            raise SourceError(
                f"{len(encodings)} layers of Content-Encoding ({header}); at most {MAX_ENCODINGS}"
            )
        unknown = [e for e in encodings if e not in _WBITS]
        if unknown:
            raise SourceError(f"unsupported Content-Encoding: {', '.join(unknown)}")
        self.limit = limit
        # The last encoding applied is the first to undo.
        self._layers = [_Layer(e) for e in reversed(encodings)]
        self._size = self._raw = 0

    def decode(self, data: bytes) -> bytes:
        self._raw += len(data)
        if self._raw > self.limit:
            raise SourceError(_over_cap(self.limit))
        for layer in self._layers:
            data = layer.decode(data, self.limit)
        return self._counted(data)

    def flush(self) -> bytes:
        data = b""
        for index, layer in enumerate(self._layers):
            data = layer.decode(data, self.limit) + layer.flush()
            for later in self._layers[index + 1 :]:
                data = later.decode(data, self.limit)
        return self._counted(data)

    def _counted(self, data: bytes) -> bytes:
        self._size += len(data)
        if self._size > self.limit:
            raise SourceError(_over_cap(self.limit) + (" once decoded" if self._layers else ""))
        return data


MAX_ENCODINGS = 2
"""Content-Encoding layers accepted on one body (``gzip`` is one; nobody needs three)."""
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


class _Layer:
    """One Content-Encoding layer: a zlib stream whose total output is capped."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._unzip = zlib.decompressobj(wbits=_WBITS[encoding])
        self._size = 0
        self._raw_deflate_tried = encoding != "deflate"

    def decode(self, data: bytes, limit: int) -> bytes:
        if not data or self._unzip.eof:
            return b""
        try:
            plain = self._unzip.decompress(data, limit + 1 - self._size)
        except zlib.error as error:
            if self._raw_deflate_tried or self._size:
                raise SourceError(f"cannot decode the {self.encoding} body: {error}") from None
            # Some servers send raw deflate data for "deflate"; one more try reading it so.
            self._raw_deflate_tried = True
            self._unzip = zlib.decompressobj(wbits=-15)
            return self.decode(data, limit)
        self._size += len(plain)
        if self._unzip.unconsumed_tail or self._size > limit:
            raise SourceError(_over_cap(limit) + " once decoded")
        return plain

    def flush(self) -> bytes:
        return self._unzip.flush() if not self._unzip.eof else b""


def gunzip(body: bytes, *, limit: int) -> bytes:
    """``body`` unzipped when it is gzip data a server sent without Content-Encoding; else as is.

    Some servers store feeds gzipped and serve the file raw. The unzipped size is
    capped like any body, so a small bomb cannot blow up memory.
    """
    if not body.startswith(GZIP_MAGIC):
        return body
    unzip = zlib.decompressobj(wbits=31)
    try:
        plain = unzip.decompress(body, limit + 1)
    except zlib.error as error:
        raise SourceError(f"the body looks gzipped but is not: {error}") from None
    if len(plain) > limit:
        raise SourceError(_over_cap(limit) + " once unzipped")
    return plain


# --- decoding pages -------------------------------------------------------------------------

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_html(body: bytes, content_type: str = "") -> str:
    """The text of an HTML page: BOM, else valid UTF-8, else the declared charset, else cp1252.

    Valid UTF-8 wins over a declaration because pages that say ISO-8859-1 but are
    UTF-8 are common, while cp1252 text that happens to be valid UTF-8 is not.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body.decode(encoding, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for encoding in (_charset(_HEADER_CHARSET.search(content_type)), _meta_charset(body)):
        if encoding:
            try:
                return body.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                continue
    return body.decode("cp1252", errors="replace")


def _charset(match: re.Match[str] | None) -> str:
    return match.group(1) if match else ""


def _meta_charset(body: bytes) -> str:
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii") if match else ""
