"""HTTP for collect: one bounded, polite client per run, and bodies decoded the way servers meant.

Bounds: requests in flight in total and per host, a connect timeout and a total
timeout per request (redirects included), a size cap on every body (checked
while streaming, so a huge or endless body is cut off early), a limit on
redirects. Every network failure becomes a SourceError with one clear line.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import re
import urllib.parse
import urllib.request
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import cache
from http.cookiejar import Cookie, DefaultCookiePolicy
from itertools import count
from typing import TYPE_CHECKING, Protocol

import h11
import httpx

from digest import __version__
from digest.collect.connections import Connection, Disconnected, Origin, Pool
from digest.collect.guard import Allowed, literal
from digest.config import CollectConfig
from digest.errors import SourceError

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

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
    """The bounds and connections shared by every request of a run."""

    def __init__(self, settings: CollectConfig, *, gate: HostGate | None = None) -> None:
        self.settings = settings
        self.gate = gate
        self._tickets = count()
        seconds = settings.timeout.total_seconds()
        self.pool = Pool(
            Allowed(settings.allow_hosts),
            connect_timeout=min(seconds, CONNECT_TIMEOUT),
            keep=settings.concurrency,
        )
        self.headers = {
            "User-Agent": settings.user_agent or USER_AGENT,
            "Accept-Encoding": ", ".join(_WBITS),
            "Accept": "*/*",
        }
        self.cookies = _cookie_jar()
        """What servers set in this run, sent back where they apply (a browser's rules: some
        sites redirect until a cookie comes back). At most MAX_COOKIES are kept."""
        self._all = asyncio.Semaphore(settings.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host)
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.pool.close()
        await asyncio.sleep(0)  # the closed connections' sockets are let go on the next turn

    async def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """GET ``url``; raise SourceError with one clear line on any network failure."""
        seconds = self.settings.timeout.total_seconds()
        try:
            target = httpx.URL(url)
            host = target.netloc.decode("ascii")
            async with self._all, self._hosts[host], self._shared(host):
                async with asyncio.timeout(seconds):
                    return await self._follow(target, headers or {})
        except TimeoutError:
            raise SourceError(f"timed out after {seconds:g}s") from None
        except httpx.InvalidURL as error:
            raise SourceError(f"invalid URL: {error}") from None
        except h11.RemoteProtocolError as error:
            raise SourceError(f"the server broke the HTTP protocol: {error}") from None
        except h11.LocalProtocolError as error:
            raise SourceError(f"cannot send the request: {error}") from None
        except OSError as error:
            raise SourceError(f"the connection failed: {error}") from None

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

    async def _follow(self, url: httpx.URL, headers: dict[str, str]) -> Response:
        """GET ``url``, following up to MAX_REDIRECTS redirects; each new host passes the guard."""
        statuses: list[int] = []
        for _ in range(MAX_REDIRECTS + 1):
            response, location = await self._exchange(url, headers)
            if location is None:
                permanent = bool(statuses) and all(s in (301, 308) for s in statuses)
                return replace(response, permanent_redirect=permanent)
            statuses.append(response.status)
            url = url.join(location)
            if url.scheme not in ("http", "https"):
                raise SourceError(f"a redirect to a URL that is not http(s): {location}")
        raise SourceError(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)")

    async def _exchange(
        self, url: httpx.URL, headers: dict[str, str]
    ) -> tuple[Response, str | None]:
        """One request and its answer; a redirect's Location, or None for any other answer.

        A kept-alive connection the server closed just before the request is replaced by
        a new one, once (a GET may be sent again).
        """
        origin = _origin(url)
        head = [
            (b"Host", url.netloc),
            *_encoded(self.headers, headers, _credentials(url), self._cookies_for(url)),
        ]
        for fresh in (False, True):
            async with self.pool.connection(origin, fresh=fresh) as connection:
                reused = connection.used
                try:
                    answer = await connection.request(url.raw_path, head)
                except (Disconnected, ConnectionError):
                    if not reused:
                        raise
                    continue
                return await self._read(connection, url, answer)
        raise AssertionError("the second try raises or returns")

    def _cookies_for(self, url: httpx.URL) -> dict[str, str]:
        if not self.cookies.jar:
            return {}
        request = httpx.Request("GET", url)
        self.cookies.set_cookie_header(request)
        cookie = _bounded(request.headers.get("cookie", ""))
        return {"Cookie": cookie} if cookie else {}

    def _keep_cookies(self, url: httpx.URL, status: int, headers: httpx.Headers) -> None:
        """Take the answer's cookies as a browser would (updates, deletions, new ones), except
        that new ones are taken only while fewer than MAX_COOKIES are kept: a full jar still
        takes a server's updates and deletions of the cookies it holds."""
        if "set-cookie" not in headers:
            return
        kept = {(c.domain, c.path, c.name) for c in self.cookies.jar}
        answer = httpx.Response(status, headers=headers, request=httpx.Request("GET", url))
        after = _cookie_jar(self.cookies.jar)  # a copy: the answer applied to it, then bounded
        after.extract_cookies(answer)
        held = [c for c in after.jar if (c.domain, c.path, c.name) in kept]
        new = [c for c in after.jar if (c.domain, c.path, c.name) not in kept]
        if new[MAX_COOKIES - len(held) :]:  # over the bound: the first new ones that fit
            after = _cookie_jar(held + new[: MAX_COOKIES - len(held)])
        self.cookies = after

    async def _read(
        self, connection: Connection, url: httpx.URL, answer: h11.Response
    ) -> tuple[Response, str | None]:
        headers = httpx.Headers(answer.headers)
        self._keep_cookies(url, answer.status_code, headers)
        location = headers.get("location") if answer.status_code in _REDIRECTS else None
        declared = headers.get("content-length", "")
        if location is not None:
            if declared.isdigit() and int(declared) <= REDIRECT_BODY:
                # Read (and dropped) only so that the connection can be kept.
                async for _ in connection.body():
                    pass
            return Response(str(url), answer.status_code, headers, b"", False), location
        limit = self.settings.max_bytes
        if declared.isdigit() and int(declared) > limit:
            raise SourceError(_over_cap(limit, int(declared)))
        decoder = Decoder(headers.get("content-encoding", ""), limit=limit)
        body = bytearray()
        async for chunk in connection.body():
            body += decoder.decode(chunk)
        body += decoder.flush()
        plain = gunzip(bytes(body), limit=limit)
        return Response(str(url), answer.status_code, headers, plain, False), None


MAX_COOKIES = 300
"""Cookies one run keeps (what a browser keeps per site is of this order)."""
MAX_COOKIE_HEADER = 8192
"""Bytes of the Cookie header sent; the cookies past that are left out."""
REDIRECT_BODY = 65536
"""Bytes of a redirect's body read to keep its connection; a longer or unsized one is left
unread, and its connection closed."""
_REDIRECTS = (301, 302, 303, 307, 308)


class _CookiePolicy(DefaultCookiePolicy):
    """The standard rules and a browser's: no cookie for a public suffix (``github.io``,
    ``co.uk``), which every site under it would be sent."""

    def set_ok_domain(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        if cookie.domain_specified:
            domain = cookie.domain.strip(".").lower()
            host = urllib.parse.urlsplit(request.get_full_url()).hostname or ""
            if literal(host) is not None and domain != host:
                return False  # an address has no subdomains: "Domain=0.113.5" is not one
            if _public_suffixes().is_public(domain):
                return False
        return super().set_ok_domain(cookie, request)


@cache
def _public_suffixes() -> PublicSuffixList:
    """The list the publicsuffixlist package carries (read once, when a cookie names a domain)."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _cookie_jar(cookies: Iterable[Cookie] = ()) -> httpx.Cookies:
    jar = httpx.Cookies()
    jar.jar.set_policy(_CookiePolicy())
    for cookie in cookies:
        jar.jar.set_cookie(cookie)
    return jar


def _origin(url: httpx.URL) -> Origin:
    scheme = url.scheme
    if scheme not in ("http", "https"):
        raise SourceError(f"not an http(s) URL: {url}")
    if not url.raw_host:
        raise SourceError(f"invalid URL: no host in {url}")
    return Origin(scheme, url.raw_host.decode("ascii"), url.port or _PORTS[scheme])


_PORTS = {"http": 80, "https": 443}


def _credentials(url: httpx.URL) -> dict[str, str]:
    """Basic authentication for a URL that carries a user name (``https://user:pw@host/feed``);
    a redirect elsewhere drops it, as each hop's own URL is what counts."""
    if not url.username:
        return {}
    pair = f"{url.username}:{url.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def _encoded(*layers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as bytes, a later layer's overriding an earlier one's whatever their case;
    values as UTF-8 (a validator goes back as the bytes the server sent)."""
    merged = {name.lower(): (name, value) for layer in layers for name, value in layer.items()}
    return [(name.encode("ascii"), value.encode("utf-8")) for name, value in merged.values()]


def _bounded(cookie: str) -> str:
    """A Cookie header cut after its last whole ``name=value`` within MAX_COOKIE_HEADER bytes."""
    sent = cookie.encode("utf-8")
    if len(sent) <= MAX_COOKIE_HEADER:
        return cookie
    return sent[: MAX_COOKIE_HEADER + 2].rpartition(b"; ")[0].decode("utf-8")


def _over_cap(limit: int, size: int | None = None) -> str:
    what = f"body of {size:,} bytes" if size is not None else "body"
    return f"{what} is over the {limit:,}-byte cap (collect.max_bytes)"


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
