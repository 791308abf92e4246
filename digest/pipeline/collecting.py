"""Collect: fetch the due sources, complete teasers from their pages, remember what came."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime

from digest import collect as collect_stage
from digest import extract
from digest.collect import HostGate
from digest.config import Config, SourceConfig
from digest.errors import SourceError
from digest.models import Article, Extracted, FeedResult, Page
from digest.pipeline.politeness import StoreGate
from digest.store import Store, utcnow
from digest.text import word_count
from digest.workers import Workers, can_budget_here, run_here, within_budget


@dataclass(frozen=True)
class CollectReport:
    results: list[FeedResult]
    new: int
    updated: int
    page_errors: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def fetched_any(self) -> bool:
        """False when sources failed and not one could be fetched (nor was fresh enough to skip)."""
        working = self.count("ok") + self.count("unchanged") + self.count("skipped")
        return working > 0 or not (self.count("failed") + self.count("disabled"))


def collect(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    progress: Callable[[FeedResult], None] | None = None,
    workers: Workers | None = None,
) -> CollectReport:
    """Collect the configured sources into ``store``.

    ``workers``: the page extractors' process pool to use (and leave running); without one, a
    pool of this call's own starts if pages need it and stops at the end.
    """
    now = now or utcnow()
    arrived: list[FeedResult] = []

    def received(result: FeedResult) -> None:
        arrived.append(result)
        if progress:
            progress(result)

    # Each request holds a place at its host in the store: the limits hold across processes.
    gate = StoreGate(store, config.collect)
    try:
        with nullcontext(workers) if workers else Workers(preload=WORKER_MODULES) as pool:
            # 1. Fetch every due source (conditional GET; failures isolated per source) and
            #    parse each feed here as it arrives: worker processes would cost more than
            #    the parsing they took over (feedparser's millisecond per entry).
            keys = [source.url for source in config.sources]
            states = {state.key: state for state in store.fetch_states(keys)}
            results = collect_stage.collect_feeds(
                config.sources, states, config.collect, now=now, progress=received, gate=gate
            )
            # 2. Complete teasers from their article pages (extracted while the rest download).
            by_key = {s.url: s for s in config.sources}
            articles = [a for r in results for a in r.articles]
            articles, page_errors = _complete_from_pages(
                articles, by_key, config, store, pool, gate, now=now
            )
    except KeyboardInterrupt:
        _keep_arrived(arrived, store, now=now)
        raise
    # 3. Remember the sources' state and the articles (deduplicated, updated in place),
    #    in one transaction: a feed's new ETag is never kept without what it brought.
    new, updated = store.save_collected((r.state for r in results), articles, now=now)
    return CollectReport(results, new, updated, page_errors)


def _keep_arrived(arrived: list[FeedResult], store: Store, *, now: datetime) -> None:
    """Interrupted (Ctrl-C, SIGTERM): keep every feed that arrived, each in its own commit.

    Their pages were not all read, so the validators are dropped: the next run
    fetches these feeds in full and completes their teasers then.
    """
    for result in arrived:
        state = replace(result.state, etag="", last_modified="")
        store.save_collected([state], result.articles, now=now)


def _complete_from_pages(
    articles: list[Article],
    sources: dict[str, SourceConfig],
    config: Config,
    store: Store,
    workers: Workers,
    gate: HostGate,
    *,
    now: datetime,
) -> tuple[list[Article], list[str]]:
    """Articles with their page's text where the feed gave a teaser; and the pages that failed."""
    teaser_words = config.collect.teaser_words
    completed = [a for a in articles if not _needs_page(a, sources[a.source_key], teaser_words)]
    teasers = [a for a in articles if _needs_page(a, sources[a.source_key], teaser_words)]
    stored = store.stored_versions(teasers)
    wanted: dict[str, list[Article]] = {}
    for article in teasers:
        known = stored.get(article.id)
        if known is not None and word_count(known.text) > word_count(article.text):
            # Fetched before: keep what the page gave rather than fetch it again.
            completed.append(_with_stored(article, known))
        else:
            wanted.setdefault(article.url, []).append(article)
    found: dict[str, Future[Extracted]] = {}
    many = len(wanted) >= PARALLEL_PAGES

    budget = config.collect.page_budget.total_seconds()
    # The budget needs a main thread: off it (the daemon's scheduler), pages go to the workers.
    submit = workers.submit if many or not can_budget_here() else run_here

    def received(url: str, page: Page | SourceError) -> None:
        if isinstance(page, Page):
            found[url] = submit(within_budget, budget, "extraction", extract.extract_page, page)

    pages = (
        collect_stage.fetch_pages(wanted, config.collect, received=received, gate=gate)
        if wanted
        else {}
    )
    errors = []
    for url, waiting in wanted.items():
        extracted = _extracted(found[url]) if url in found else pages[url]
        if isinstance(extracted, Extracted):
            completed.extend(_with_page(article, extracted, now=now) for article in waiting)
        else:
            errors.append(f"{url}: {extracted}")
            completed.extend(waiting)  # the teaser is better than nothing
    return completed, errors


def _extracted(future: Future[Extracted]) -> Extracted | str:
    """What extraction found, or why it failed: one odd page must not stop a run."""
    try:
        return future.result()
    except SourceError as error:
        return str(error)
    except Exception as error:
        return f"cannot extract the text: {type(error).__name__}: {error}"


PARALLEL_PAGES = 64
"""From this many pages on, pages are extracted in worker processes while the rest download
(a worker costs about a third of a second of CPU to start; a news page takes 5 to 50 ms)."""
WORKER_MODULES = ("digest.extract",)
"""What the worker processes import as they start: the extraction, nothing else."""


def _needs_page(article: Article, source: SourceConfig, teaser_words: int) -> bool:
    if source.full_text == "never" or not article.url:
        return False
    return source.full_text == "always" or word_count(article.text) < teaser_words


def _with_page(article: Article, found: Extracted, *, now: datetime) -> Article:
    """The article, with what its page adds: the main text, and metadata the feed lacked."""
    guessed = set(article.guessed)
    title, published = article.title, article.published
    if "title" in guessed and found.title:
        title = found.title
        guessed.discard("title")
    dated = article.dated
    if "published" in guessed and found.published:
        published, dated = min(found.published, now), True
        guessed.discard("published")
    longer = word_count(found.text) > word_count(article.text)
    return replace(
        article,
        text=found.text if longer else article.text,
        title=title,
        published=published,
        dated=dated,
        author=article.author or found.author,
        image=article.image or found.image,
        language=article.language or found.language,
        guessed=frozenset(guessed),
    )


def _with_stored(article: Article, stored: Article) -> Article:
    """The article, completed from its stored version (which its page completed earlier)."""
    return replace(
        article,
        text=stored.text,
        title=stored.title if "title" in article.guessed else article.title,
        published=stored.published if "published" in article.guessed else article.published,
        dated=stored.dated if "published" in article.guessed else article.dated,
        author=article.author or stored.author,
        image=article.image or stored.image,
        language=article.language or stored.language,
    )
