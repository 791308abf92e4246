"""Collect: fetch feeds and article pages over HTTP (or from disk) and turn entries into Articles.

Fetching is polite and bounded: a limit on requests in flight in total and per
host, a timeout per request, a size cap per body, conditional GET (ETag,
Last-Modified), Retry-After and Cache-Control max-age honoured for the next
fetch, permanent redirects remembered, 410 Gone disabling the source.
A failing source gives a FeedResult with status "failed" and a one-line
message; it never stops the others.
"""

from __future__ import annotations

import asyncio
import calendar
import email.utils
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
import httpx

from digest import __version__
from digest.config import CollectConfig, SourceConfig
from digest.errors import SourceError
from digest.models import Article, FeedResult, FetchState, Image, Page
from digest.text import clean_line, html_to_text

USER_AGENT = (
    f"digest/{__version__} (newsletter digest; fetches each feed at most every few minutes)"
)
MAX_REDIRECTS = 5
LONGEST_WAIT = timedelta(hours=6)
"""Retry-After and max-age beyond this are capped, so a misconfigured server cannot mute a source for days."""

Progress = Callable[[FeedResult], None]


@dataclass(frozen=True)
class Response:
    """What one GET returned, with the body already read (and capped)."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    permanent_redirect: bool


# --- fetching -------------------------------------------------------------------------------


class Fetcher:
    """One HTTP client with the configured bounds, shared by every request of a run."""

    def __init__(self, settings: CollectConfig) -> None:
        self.settings = settings
        seconds = settings.timeout.total_seconds()
        self.client = httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(seconds),
            limits=httpx.Limits(
                max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
            ),
            headers={"User-Agent": settings.user_agent or USER_AGENT},
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
        try:
            async with self._all, self._hosts[host]:
                async with asyncio.timeout(self.settings.timeout.total_seconds()):
                    return await self._get(url, headers or {})
        except TimeoutError:
            raise SourceError(
                f"timed out after {self.settings.timeout.total_seconds():g}s"
            ) from None
        except httpx.TooManyRedirects:
            raise SourceError(f"more than {MAX_REDIRECTS} redirects") from None
        except httpx.HTTPError as error:
            raise SourceError(_describe_http_error(error)) from None

    async def _get(self, url: str, headers: dict[str, str]) -> Response:
        async with self.client.stream("GET", url, headers=headers) as response:
            limit = self.settings.max_bytes
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise SourceError(f"body of {int(declared):,} bytes is over the {limit:,}-byte cap")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise SourceError(f"body is over the {limit:,}-byte cap")
            permanent = bool(response.history) and all(
                r.status_code in (301, 308) for r in response.history
            )
            return Response(
                str(response.url), response.status_code, response.headers, bytes(body), permanent
            )


def _describe_http_error(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect: {error or 'connection refused'}"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"the server broke the HTTP protocol: {error}"
    if isinstance(error, httpx.DecodingError):
        return f"cannot decode the body: {error}"
    return f"{type(error).__name__}: {error}"


# --- feeds ----------------------------------------------------------------------------------


def collect_feeds(
    sources: Sequence[SourceConfig],
    states: dict[str, FetchState],
    settings: CollectConfig,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> list[FeedResult]:
    """Fetch every source concurrently; one FeedResult per source, in the sources' order."""
    return asyncio.run(_collect_feeds(sources, states, settings, now=now, progress=progress))


async def _collect_feeds(
    sources: Sequence[SourceConfig],
    states: dict[str, FetchState],
    settings: CollectConfig,
    *,
    now: datetime,
    progress: Progress | None,
) -> list[FeedResult]:
    async with Fetcher(settings) as fetcher:

        async def one(source: SourceConfig) -> FeedResult:
            state = states.get(source.url) or FetchState(key=source.url, url=source.url)
            result = await collect_feed(fetcher, source, state, settings, now=now)
            if progress:
                progress(result)
            return result

        return list(await asyncio.gather(*(one(source) for source in sources)))


async def collect_feed(
    fetcher: Fetcher,
    source: SourceConfig,
    state: FetchState,
    settings: CollectConfig,
    *,
    now: datetime,
) -> FeedResult:
    """Fetch and parse one source; never raises for anything the source does wrong."""
    if state.disabled:
        return FeedResult(state, "disabled", message=f"disabled: {state.disabled}")
    if state.not_before and state.not_before > now:
        return FeedResult(state, "skipped", message=f"not due until {state.not_before:%H:%M} UTC")
    try:
        if _is_local(state.url):
            return _read_local_feed(source, state, now=now)
        response = await fetcher.get(state.url, _conditional_headers(state))
        return _feed_result(source, state, response, settings, now=now)
    except SourceError as error:
        return _failed(state, str(error), now=now)


def _failed(
    state: FetchState, message: str, *, now: datetime, not_before: datetime | None = None
) -> FeedResult:
    failed = replace(state, last_error=message, failures=state.failures + 1, not_before=not_before)
    return FeedResult(failed, "failed", message=message)


def _conditional_headers(state: FetchState) -> dict[str, str]:
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"
    }
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _feed_result(
    source: SourceConfig,
    state: FetchState,
    response: Response,
    settings: CollectConfig,
    *,
    now: datetime,
) -> FeedResult:
    if response.permanent_redirect:
        state = replace(state, url=response.url)
    status = response.status
    if status == 410:
        gone = replace(state, disabled="410 Gone: the feed was removed", last_error="410 Gone")
        return FeedResult(
            gone, "disabled", message="410 Gone: source disabled; remove it from the config"
        )
    if status in (429, 503):
        wait = _retry_after(response.headers, now=now) or timedelta(minutes=30)
        return _failed(
            state,
            f"HTTP {status}; retrying after {now + wait:%H:%M} UTC",
            now=now,
            not_before=now + wait,
        )
    not_before = _fresh_until(response.headers, now=now)
    if status == 304:
        fresh = replace(state, last_success=now, last_error="", failures=0, not_before=not_before)
        return FeedResult(fresh, "unchanged")
    if status >= 400:
        return _failed(
            state, f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".strip(), now=now
        )
    if status != 200:
        return _failed(state, f"unexpected HTTP {status}", now=now)
    articles = parse_feed(
        response.body, source, base_url=response.url, headers=response.headers, now=now
    )
    fresh = replace(
        state,
        etag=response.headers.get("etag", ""),
        last_modified=response.headers.get("last-modified", ""),
        last_success=now,
        last_error="",
        failures=0,
        not_before=not_before,
    )
    return FeedResult(fresh, "ok", _limit(articles, source))


def _retry_after(headers: httpx.Headers, *, now: datetime) -> timedelta | None:
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value)), LONGEST_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), LONGEST_WAIT)


def _fresh_until(headers: httpx.Headers, *, now: datetime) -> datetime | None:
    """The time before which Cache-Control max-age asks not to fetch again."""
    match = re.search(r"max-age\s*=\s*(\d+)", headers.get("cache-control", ""))
    if not match or int(match.group(1)) == 0:
        return None
    return now + min(timedelta(seconds=int(match.group(1))), LONGEST_WAIT)


def _is_local(url: str) -> bool:
    return not url.startswith(("http://", "https://"))


def _read_local_feed(source: SourceConfig, state: FetchState, *, now: datetime) -> FeedResult:
    path = Path(urlsplit(state.url).path if state.url.startswith("file:") else state.url)
    try:
        stamp = str(path.stat().st_mtime_ns)
        if stamp == state.etag:
            return FeedResult(
                replace(state, last_success=now, last_error="", failures=0), "unchanged"
            )
        body = path.read_bytes()
    except OSError as error:
        return _failed(state, f"cannot read {path}: {error.strerror}", now=now)
    articles = parse_feed(body, source, base_url=path.resolve().as_uri(), headers=None, now=now)
    fresh = replace(state, etag=stamp, last_success=now, last_error="", failures=0)
    return FeedResult(fresh, "ok", _limit(articles, source))


def _limit(articles: list[Article], source: SourceConfig) -> tuple[Article, ...]:
    kept = [a for a in articles if _wanted(a, source)]
    kept.sort(key=lambda a: a.published, reverse=True)
    return tuple(kept[: source.max_items])


def _wanted(article: Article, source: SourceConfig) -> bool:
    words = set(re.findall(r"\w+", f"{article.title} {article.text}".lower()))
    if source.include and not any(_mentions(words, term) for term in source.include):
        return False
    return not any(_mentions(words, term) for term in source.exclude)


def _mentions(words: set[str], term: str) -> bool:
    return all(w in words for w in re.findall(r"\w+", term.lower()))


# --- parsing --------------------------------------------------------------------------------


def parse_feed(
    body: bytes,
    source: SourceConfig,
    *,
    base_url: str,
    headers: httpx.Headers | None,
    now: datetime,
) -> list[Article]:
    """Articles from an RSS/Atom document; SourceError when it is not a feed at all."""
    body = _strip_leading_space(body)
    response_headers = {"content-location": base_url}
    if headers and headers.get("content-type"):
        response_headers["content-type"] = headers["content-type"]
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=True)
    if not parsed.entries and not parsed.feed.get("title"):
        reason = parsed.get("bozo_exception") or "no feed or entries found"
        raise SourceError(f"not an RSS or Atom feed: {_first_line(str(reason))}")
    language = _language(parsed.feed.get("language", ""))
    guids = [e.get("id", "") for e in parsed.entries]
    unique = {g for g in guids if g and guids.count(g) == 1}
    articles = []
    for entry in parsed.entries:
        article = _article(
            entry, source, base_url=base_url, unique_guids=unique, language=language, now=now
        )
        if article is not None:
            articles.append(article)
    return articles


def _strip_leading_space(body: bytes) -> bytes:
    """Some servers put blank lines before <?xml, which makes XML parsers give up."""
    if body[:1].isspace():
        return body.lstrip()
    return body


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _article(
    entry: Any,
    source: SourceConfig,
    *,
    base_url: str,
    unique_guids: set[str],
    language: str,
    now: datetime,
) -> Article | None:
    link = entry.get("link") or _alternate_link(entry)
    url = canonical_url(urljoin(base_url, link)) if link else ""
    text = html_to_text(_entry_html(entry))
    title = clean_line(entry.get("title", ""))
    if not title and not url:
        return None  # nothing to show a reader and nothing to link to
    guid = entry.get("id", "")
    return Article(
        id=article_id(guid if guid in unique_guids else "", url, source.url, title + text),
        source=source.name,
        section=source.section,
        url=url if url.startswith(("http://", "https://")) else "",
        title=title or _title_from(text) or url,
        text=text,
        published=_published(entry, now=now),
        author=clean_line(entry.get("author", "")),
        image=_image(entry, base_url),
        language=_language(entry.get("language", "")) or language,
        tags=tuple(
            dict.fromkeys(
                clean_line(t.get("term") or "") for t in entry.get("tags", []) if t.get("term")
            )
        ),
        priority=source.priority,
        source_key=source.url,
    )


def _alternate_link(entry: Any) -> str:
    for link in entry.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return ""


def _entry_html(entry: Any) -> str:
    contents = [c.get("value", "") for c in entry.get("content", [])]
    summary = entry.get("summary", "")
    return str(max([*contents, summary], key=len))


def _title_from(text: str) -> str:
    words = text.split()
    return " ".join(words[:12]) + ("…" if len(words) > 12 else "")


def _published(entry: Any, *, now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            # A date in the future is a feed's mistake; it must not pin the item to the top.
            return min(moment, now)
    return now


def _image(entry: Any, base_url: str) -> Image | None:
    candidates: list[dict[str, Any]] = []
    candidates += [m for m in entry.get("media_content", []) if _is_image(m)]
    candidates += list(entry.get("media_thumbnail", []))
    candidates += [
        {"url": e.get("href"), "type": e.get("type")}
        for e in entry.get("enclosures", [])
        if _is_image(e)
    ]
    for candidate in candidates:
        url = candidate.get("url") or candidate.get("href")
        if url:
            absolute = urljoin(base_url, url)
            if absolute.startswith(("http://", "https://")):
                return Image(
                    url=absolute,
                    alt=clean_line(entry.get("media_description", "") or entry.get("title", "")),
                    width=_int(candidate.get("width")),
                    height=_int(candidate.get("height")),
                )
    return None


def _is_image(media: dict[str, Any]) -> bool:
    kind = media.get("type") or ""
    return kind.startswith("image/") or media.get("medium") == "image"


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _language(code: str) -> str:
    return code.strip().lower().replace("_", "-").split("-")[0][:3] if code else ""


# --- identity -------------------------------------------------------------------------------

TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_ga|igshid|ref_src|cmpid)$", re.I
)


def canonical_url(url: str) -> str:
    """``url`` without its fragment and tracking parameters (utm_*, fbclid, ...)."""
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not TRACKING_PARAMS.match(k)
    ]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), "")
    )


def article_id(guid: str, url: str, source_key: str, content: str) -> str:
    """A stable id: a unique guid, else the canonical link, else a hash of the content.

    A guid that is a URL or URN names the item worldwide; a bare guid ("1234")
    only within its feed, so it is qualified with the source.
    """
    if guid:
        return guid if re.match(r"^[a-z][a-z0-9+.-]*:", guid, re.I) else f"{source_key}#{guid}"
    if url:
        return url
    return "sha256:" + hashlib.sha256(f"{source_key}\n{content}".encode()).hexdigest()[:32]


# --- pages ----------------------------------------------------------------------------------


def fetch_pages(urls: Iterable[str], settings: CollectConfig) -> dict[str, Page | SourceError]:
    """Fetch article pages concurrently: each URL maps to its Page, or to why it failed."""
    return asyncio.run(_fetch_pages(list(dict.fromkeys(urls)), settings))


async def _fetch_pages(urls: list[str], settings: CollectConfig) -> dict[str, Page | SourceError]:
    async with Fetcher(settings) as fetcher:

        async def one(url: str) -> Page | SourceError:
            try:
                response = await fetcher.get(
                    url, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}
                )
            except SourceError as error:
                return error
            if response.status != 200:
                return SourceError(f"HTTP {response.status}")
            return Page(url=response.url, html=_decode_page(response))

        pages = await asyncio.gather(*(one(url) for url in urls))
        return dict(zip(urls, pages, strict=True))


def _decode_page(response: Response) -> str:
    charset = response.headers.get_list("content-type")
    declared = ""
    for value in charset:
        match = re.search(r"charset=([\w-]+)", value, re.I)
        if match:
            declared = match.group(1)
    for encoding in (declared, _meta_charset(response.body), "utf-8"):
        if encoding:
            try:
                return response.body.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                continue
    return response.body.decode("cp1252", errors="replace")


def _meta_charset(body: bytes) -> str:
    match = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", body[:4096], re.I)
    return match.group(1).decode("ascii") if match else ""


_ = time  # feedparser's struct_time values are converted with calendar.timegm
