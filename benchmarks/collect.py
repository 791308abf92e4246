"""Collect speed: 200 feeds x 30 items served on 127.0.0.1, half of them teaser-only.

Writes a synthetic news site (the demo site's articles, cycled: every teaser-only
item has an article page wrapped in menus, tickers and a sign-up box) into a
temporary folder and serves it from a separate process (a threading HTTP/1.1
server that answers If-Modified-Since with 304). Then, in the same run:

* digest, cold: `pipeline.collect` into an empty store: 200 feeds, 3,000 article
  pages fetched and extracted, 6,000 articles stored. Articles per second.
* digest, cold, feeds only: the same with `full_text = "never"` (no pages),
  which is what the peer does.
* digest, warm: collecting again with nothing new (every feed answers 304).
* peer: rss2email-style fetching, one `feedparser.parse(url)` after the other
  (feedparser's own urllib fetching, ETag/Last-Modified on the second pass);
  no article pages, no store.

Peer and digest take turns (--repeat rounds); each row is the median of its runs, with the
load average as they began beside it.

Usage: .venv/bin/python benchmarks/collect.py [--feeds 200] [--items 30] [--repeat 3]
[--feeds-only] (leaves out the run with article pages). CPU seconds are this process's.
Targets on 2 cores: feeds only at least as fast as the peer, warm no slower than the
peer's warm run, cold >= 100 articles/s including extraction.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser

from digest import pipeline
from digest.config import CollectConfig, Config, SourceConfig
from digest.demo.site import Content, DemoArticle, Feed, Outlet, load_content, write_site
from digest.store import open_store

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
OUTLETS = 20


# --- the site --------------------------------------------------------------------------------


def synthetic_content(feeds: int, items: int) -> Content:
    """``feeds`` feeds of ``items`` articles each, odd-numbered feeds teaser-only."""
    demo = load_content()
    pool = demo.articles
    outlets = {
        f"outlet{n}": Outlet(f"outlet{n}", f"Outlet {n}", "News from a benchmark")
        for n in range(OUTLETS)
    }
    all_feeds: dict[str, Feed] = {}
    articles: list[DemoArticle] = []
    for number in range(feeds):
        outlet = f"outlet{number % OUTLETS}"
        feed = Feed(
            outlet=outlet,
            path=f"{outlet}/feed{number}.xml",
            title=f"Feed {number}",
            section=("Economy", "Markets", "Politics")[number % 3],
            format="rss" if number % 4 < 2 else "atom",
            teaser=number % 2 == 1,
        )
        all_feeds[feed.path] = feed
        for item in range(items):
            model = pool[(number * items + item) % len(pool)]
            articles.append(
                replace(
                    model,
                    slug=f"f{number}-{item}-{model.slug}",
                    feed=feed.path,
                    hours_ago=item * 0.5 + number / 1000,
                    title=f"{model.title} ({number}.{item})",
                )
            )
    return Content(outlets, all_feeds, tuple(articles))


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # It writes the headers and the body apart: with Nagle's algorithm on, a kept-alive
    # connection's body waits for the client's delayed ACK of the headers (40 ms on Linux), a
    # stall that would be the server's, not digest's (a fresh connection ACKs at once).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    # The default backlog of 5 drops connections that arrive together, and a dropped
    # SYN is retried after a second: a stall that would be the server's, not digest's.
    request_queue_size = 128


def serve_folder(folder: str, ports: Any) -> None:
    """Serve ``folder`` over HTTP on a free port of 127.0.0.1; put the port on ``ports``."""
    handler = functools.partial(_Handler, directory=folder)
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    ports.put(server.server_address[1])
    server.serve_forever()


# --- runs ------------------------------------------------------------------------------------


def digest_run(config: Config, *, now: datetime) -> tuple[float, pipeline.CollectReport]:
    with open_store(config.data_dir) as store:
        start = time.perf_counter()
        report = pipeline.collect(config, store, now=now)
        return time.perf_counter() - start, report


def cpu_of(run: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """What ``run(*args, **kwargs)`` returns, and the CPU seconds this process spent in it
    (the server's are not counted, for either side)."""
    start = time.process_time()
    result = run(*args, **kwargs)
    return result, time.process_time() - start


def peer_run(urls: list[str], validators: dict[str, tuple[str, str]]) -> tuple[float, int, int]:
    """Sequential feedparser.parse(url), as rss2email fetches; returns (seconds, entries, 304s)."""
    start = time.perf_counter()
    entries = not_modified = 0
    for url in urls:
        etag, modified = validators.get(url, (None, None))
        parsed = feedparser.parse(url, etag=etag, modified=modified)
        if parsed.get("status") == 304:
            not_modified += 1
        entries += len(parsed.entries)
        validators[url] = (parsed.get("etag"), parsed.get("modified"))
    return time.perf_counter() - start, entries, not_modified


@dataclass
class Row:
    """One line of the table: the median of its runs, and the load average as each began."""

    seconds: list[float] = field(default_factory=list)
    count: int = 0
    loads: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, seconds: float, count: int, load: float, cpu: float = 0.0) -> None:
        self.seconds.append(seconds)
        self.count = count
        self.loads.append(load)
        self.cpu.append(cpu)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def load(self) -> str:
        return "-".join(f"{x:.1f}" for x in (min(self.loads), max(self.loads)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating")
    parser.add_argument(
        "--feeds-only", action="store_true", help="leave out the run that fetches article pages"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="digest-bench-collect-"))
    site = work / "site"
    started = time.perf_counter()
    content = synthetic_content(args.feeds, args.items)
    write_site(site, base_url="http://127.0.0.1:0", now=NOW, content=content)
    print(
        f"site: {args.feeds} feeds x {args.items} items written in {time.perf_counter() - started:.1f}s"
    )

    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    server = context.Process(target=serve_folder, args=(str(site), ports), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=30)
        base = f"http://127.0.0.1:{port}"
        # The pages' links carry the port, so the site is written again now that it is known.
        write_site(site, base_url=base, now=NOW, content=content)
        rows = measure(content, base, work, args.repeat, pages=not args.feeds_only)
    finally:
        server.terminate()
        server.join()
    report(rows, args)


def measure(
    content: Content, base: str, work: Path, repeat: int, *, pages: bool = True
) -> dict[str, Row]:
    sources = tuple(
        SourceConfig(name=feed.title, url=f"{base}/{feed.path}", section=feed.section)
        for feed in content.feeds.values()
    )
    # Every feed is on one host here; real feeds spread over many, so the per-host
    # bound is raised to the total bound (16) to model that, not to flatter digest.
    settings = CollectConfig(per_host=16, allow_hosts=("127.0.0.1",))
    urls = [s.url for s in sources]
    rows = {name: Row() for name in ("peer", "only", "peer_warm", "warm", "pages")}
    # Peer and digest take turns, so a burst of other work on the machine falls on both.
    for round in range(repeat):
        validators: dict[str, tuple[str, str]] = {}
        feeds_only = Config(
            data_dir=work / f"feeds-only-{round}",
            sources=tuple(replace(s, full_text="never") for s in sources),
            collect=settings,
        )
        load = os.getloadavg()[0]
        peer, cpu = cpu_of(peer_run, urls, validators)
        rows["peer"].add(*peer[:2], load, cpu)
        load = os.getloadavg()[0]
        only, cpu = cpu_of(digest_run, feeds_only, now=NOW)
        rows["only"].add(*_counted(only, "new"), load, cpu)
        load = os.getloadavg()[0]
        later = NOW + timedelta(minutes=30)
        warm, cpu = cpu_of(digest_run, feeds_only, now=later)
        rows["warm"].add(*_counted(warm, "unchanged"), load, cpu)
        load = os.getloadavg()[0]
        (seconds, _, not_modified), cpu = cpu_of(peer_run, urls, validators)
        rows["peer_warm"].add(seconds, not_modified, load, cpu)
    if not pages:
        return rows
    config = Config(data_dir=work / "full", sources=sources, collect=settings)
    load = os.getloadavg()[0]
    seconds, pages = digest_run(config, now=NOW)
    rows["pages"].add(seconds, pages.new, load)
    if pages.page_errors:
        print(f"{len(pages.page_errors)} page errors, first: {pages.page_errors[0]}")
    return rows


def _counted(run: tuple[float, pipeline.CollectReport], what: str) -> tuple[float, int]:
    seconds, report = run
    return seconds, report.new if what == "new" else report.count(what)


def report(rows: dict[str, Row], args: argparse.Namespace) -> None:
    print(
        f"\n{args.feeds} feeds x {args.items} items; {os.cpu_count()} CPUs; median of "
        f"{args.repeat} alternating runs; load average (1 min) as each run began, "
        "lowest-highest (other work shares this machine); CPU: this process's seconds "
        "(the server's not counted)\n"
    )
    head = f"{'articles':>8} {'seconds':>8} {'CPU s':>6} {'articles/s':>11} {'load':>9}"
    print(f"{'cold run':<46} {head}")
    cold = [("digest, feeds only", "only"), ("peer: sequential feedparser.parse(url)", "peer")]
    if rows["pages"].seconds:
        cold.append(("digest, pages fetched and extracted (once)", "pages"))
    for name, key in cold:
        row = rows[key]
        rate = row.count / row.median
        print(
            f"{name:<46} {row.count:>8} {row.median:>8.2f} {row.cpu_median:>6.2f} "
            f"{rate:>11.0f} {row.load:>9}"
        )
    print()
    print(
        f"{'warm run (nothing new)':<46} {'304s':>8} {'seconds':>8} {'CPU s':>6} {'':>11} {'load':>9}"
    )
    for name, key in (("digest", "warm"), ("peer", "peer_warm")):
        row = rows[key]
        print(
            f"{name:<46} {row.count:>8} {row.median:>8.2f} {row.cpu_median:>6.2f} "
            f"{'':>11} {row.load:>9}"
        )
    print()
    only, peer, warm, peer_warm = rows["only"], rows["peer"], rows["warm"], rows["peer_warm"]
    per_second = only.count / only.median / (peer.count / peer.median)
    print("ratios (digest / peer, same runs):")
    print(f"  cold feeds-only articles/s  {per_second:6.2f}x (higher is faster)")
    print(f"  warm seconds                {warm.median / peer_warm.median:6.2f}x (lower is faster)")
    print(f"  warm CPU seconds            {warm.cpu_median / peer_warm.cpu_median:6.2f}x")
    print()
    print(f"target feeds only >= 1.0x the peer: {'met' if per_second >= 1 else 'NOT met'}")
    print(
        f"target warm <= the peer's time:     {'met' if warm.median <= peer_warm.median else 'NOT met'}"
    )
    pages = rows["pages"]
    if pages.seconds:
        print(
            f"target cold >= 100 articles/s:      "
            f"{'met' if pages.count / pages.median >= 100 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
