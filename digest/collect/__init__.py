"""Collect: fetch feeds and article pages over HTTP (or from disk) and turn entries into Articles.

Fetching is polite and bounded (:mod:`digest.collect.fetch`): a limit on requests
in flight in total and per host, timeouts, a size cap per body. Between runs
each source's state is kept: conditional GET (ETag, Last-Modified) so an
unchanged feed costs a 304 and no parsing; Retry-After and Cache-Control
max-age honoured (a source not yet due is skipped); permanent redirects
remembered; 410 Gone disabling the source. Parsing and normalizing live in
:mod:`digest.collect.feeds`. A failing source gives a FeedResult with status
"failed" and a one-line message; it never stops the others.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import os
import re
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple
from urllib.parse import urljoin, urlsplit

import httpx

from digest.collect.feeds import article_id, canonical_url, fallback_title, parse_feed, select
from digest.collect.fetch import USER_AGENT, Fetcher, HostGate, Response, decode_html, gunzip
from digest.config import CollectConfig, SourceConfig
from digest.errors import SourceError
from digest.models import FeedResult, FetchState, Page

__all__ = [
    "USER_AGENT",
    "Fetcher",
    "HostGate",
    "Response",
    "article_id",
    "canonical_url",
    "collect_feeds",
    "decode_html",
    "fallback_title",
    "fetch_pages",
    "parse_feed",
]

LONGEST_WAIT = timedelta(hours=6)
"""Retry-After and max-age beyond this are capped, so a misconfigured server cannot mute a source for days."""
RATE_LIMITED_WAIT = timedelta(minutes=30)
"""How long to leave a source alone after a 429 that does not say how long."""
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

BIG_FEED = 256_000
"""Feeds from this many bytes on are parsed in a thread (a 3 MB feed takes seconds to parse)."""

Progress = Callable[[FeedResult], None]


# --- the event loop of a run ------------------------------------------------------------------


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)`` on a loop whose threads (name lookups, big feeds' parsing)
    are this process's, kept from one run to the next.

    A loop's own default executor starts a thread for its first lookup and another to shut it
    down, about 2.5 ms per run: nothing to a `digest collect` of every feed, but a third of a
    worker's collect job, which fetches one feed.
    """
    with asyncio.Runner(loop_factory=_Loop) as runner:
        return runner.run(coroutine)


class _Loop(asyncio.SelectorEventLoop):
    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        return super().run_in_executor(executor or _threads(), func, *args)


def _threads() -> ThreadPoolExecutor:
    """The threads every collect run's loop hands blocking calls to, this process's (a forked
    child's copy would count threads it does not have)."""
    with _THREADS_LOCK:
        if _THREADS.get(os.getpid()) is None:
            _THREADS.clear()
            _THREADS[os.getpid()] = ThreadPoolExecutor(thread_name_prefix="collect")
        return _THREADS[os.getpid()]


_THREADS: dict[int, ThreadPoolExecutor] = {}
_THREADS_LOCK = threading.Lock()


# --- feeds ----------------------------------------------------------------------------------


def collect_feeds(
    sources: Sequence[SourceConfig],
    states: dict[str, FetchState],
    settings: CollectConfig,
    *,
    now: datetime,
    progress: Progress | None = None,
    gate: HostGate | None = None,
) -> list[FeedResult]:
    """Fetch every source concurrently; one FeedResult per source, in the sources' order.

    ``gate``: per-host limits shared with other processes (see :class:`HostGate`).
    """
    return _run(_collect_feeds(sources, states, settings, now=now, progress=progress, gate=gate))


async def _collect_feeds(
    sources: Sequence[SourceConfig],
    states: dict[str, FetchState],
    settings: CollectConfig,
    *,
    now: datetime,
    progress: Progress | None,
    gate: HostGate | None,
) -> list[FeedResult]:
    async with Fetcher(settings, gate=gate) as fetcher:

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
            return _read_local_feed(source, state, settings, now=now)
        response = await fetcher.get(state.url, _conditional_headers(state))
        if response.permanent_redirect:
            state = replace(state, url=response.url)  # remembered whatever the answer
        answer = _answer(state, response, now=now)
        if answer is not None:
            return answer
        parse = functools.partial(
            parse_feed,
            response.body,
            source,
            base_url=_base_url(response),
            content_type=response.headers.get("content-type", ""),
            now=now,
        )
        if len(response.body) >= BIG_FEED:
            # Off the event loop, so the other feeds' requests go on (and keep their timeouts).
            articles = await asyncio.to_thread(parse)
        else:
            articles = parse()
        return FeedResult(_fresh(state, response, now=now), "ok", select(articles, source))
    except SourceError as error:
        return _failed(state, str(error))


def _failed(state: FetchState, message: str, *, not_before: datetime | None = None) -> FeedResult:
    failed = replace(state, last_error=message, failures=state.failures + 1, not_before=not_before)
    return FeedResult(failed, "failed", message=message)


def _succeeded(state: FetchState, *, now: datetime) -> FetchState:
    return replace(state, last_success=now, last_error="", failures=0)


def _conditional_headers(state: FetchState) -> dict[str, str]:
    headers = {"Accept": FEED_ACCEPT}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _answer(state: FetchState, response: Response, *, now: datetime) -> FeedResult | None:
    """The result of any answer but a 200 (which needs parsing: None)."""
    status = response.status
    if status == 410:
        gone = replace(
            state,
            disabled=f"410 Gone at {now:%Y-%m-%d}: the feed was removed",
            last_error="410 Gone",
        )
        return FeedResult(
            gone, "disabled", message="410 Gone: source disabled; remove it from the config"
        )
    if status in (429, 503):
        wait = _retry_after(response.headers, now=now)
        if wait is None and status == 429:
            wait = RATE_LIMITED_WAIT
        if wait is None:
            return _failed(state, f"HTTP {status} {_reason(status)}")
        retry = now + wait
        return _failed(state, f"HTTP {status}; retrying after {retry:%H:%M} UTC", not_before=retry)
    if status == 304:
        etag = response.headers.get("etag") or state.etag
        not_before = _fresh_until(response.headers, now=now)
        fresh = replace(_succeeded(state, now=now), not_before=not_before, etag=etag)
        return FeedResult(fresh, "unchanged")
    if status != 200:
        return _failed(state, f"HTTP {status} {_reason(status)}".strip())
    return None


def _fresh(state: FetchState, response: Response, *, now: datetime) -> FetchState:
    """The state after a 200: the new validators and freshness."""
    return replace(
        _succeeded(state, now=now),
        etag=response.headers.get("etag", ""),
        last_modified=response.headers.get("last-modified", ""),
        not_before=_fresh_until(response.headers, now=now),
    )


def _base_url(response: Response) -> str:
    """What relative links in the feed are relative to: Content-Location when the server sends it."""
    location = response.headers.get("content-location", "").strip()
    return urljoin(response.url, location) if location else response.url


def _reason(status: int) -> str:
    return httpx.codes.get_reason_phrase(status)


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
    control = headers.get("cache-control", "")
    match = re.search(r"max-age\s*=\s*(\d+)", control)
    if not match or int(match.group(1)) == 0 or "no-cache" in control or "no-store" in control:
        return None
    return now + min(timedelta(seconds=int(match.group(1))), LONGEST_WAIT)


def _is_local(url: str) -> bool:
    return not url.startswith(("http://", "https://"))


def _read_local_feed(
    source: SourceConfig, state: FetchState, settings: CollectConfig, *, now: datetime
) -> FeedResult:
    """A feed file on disk; its modification time and size play the part of an ETag."""
    path = Path(urlsplit(state.url).path if state.url.startswith("file:") else state.url)
    try:
        stat = path.stat()
        stamp = f"{stat.st_mtime_ns}-{stat.st_size}"
        if stamp == state.etag:
            return FeedResult(_succeeded(state, now=now), "unchanged")
        if stat.st_size > settings.max_bytes:
            return _failed(state, f"{path}: over the {settings.max_bytes:,}-byte cap")
        body = gunzip(path.read_bytes(), limit=settings.max_bytes)
    except OSError as error:
        return _failed(state, f"cannot read {path}: {error.strerror}")
    articles = parse_feed(body, source, base_url=path.resolve().as_uri(), now=now)
    fresh = replace(_succeeded(state, now=now), etag=stamp)
    return FeedResult(fresh, "ok", select(articles, source))


# --- pages ----------------------------------------------------------------------------------


PageReceived = Callable[[str, Page | SourceError], None]


def fetch_pages(
    urls: Iterable[str],
    settings: CollectConfig,
    *,
    received: PageReceived | None = None,
    gate: HostGate | None = None,
) -> dict[str, Page | SourceError]:
    """Fetch article pages concurrently: each URL maps to its Page, or to why it failed.

    ``received`` is called as each page arrives, so work on it can start while
    the others are still downloading.
    """
    return _run(_fetch_pages(list(dict.fromkeys(urls)), settings, received, gate))


async def _fetch_pages(
    urls: list[str],
    settings: CollectConfig,
    received: PageReceived | None,
    gate: HostGate | None,
) -> dict[str, Page | SourceError]:
    async with Fetcher(settings, gate=gate) as fetcher:

        async def one(url: str) -> Page | SourceError:
            try:
                response = await fetcher.get(url, {"Accept": PAGE_ACCEPT})
            except SourceError as error:
                page: Page | SourceError = error
            else:
                page = _page(response)
            if received:
                received(url, page)
            return page

        pages = await asyncio.gather(*(one(url) for url in urls))
        return dict(zip(urls, pages, strict=True))


def _page(response: Response) -> Page | SourceError:
    if response.status != 200:
        return SourceError(f"HTTP {response.status} {_reason(response.status)}".strip())
    content_type = response.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind and "html" not in kind and not kind.startswith("text/"):
        return SourceError(f"not a web page ({kind})")
    return Page(url=response.url, html=decode_html(response.body, content_type))
