"""The pipeline: the one place that knows the order of the stages.

    collect   feeds -> articles; teasers completed from their pages (collect + extract)
    build     candidates -> summaries -> stories -> edition -> email (summarize, edition, render)
    send      email -> one message per subscriber, through the delivery ledger (render, deliver)

Each function takes the validated Config and the Store and returns a small
report for the CLI. Stages never call each other; they meet here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest import collect as collect_stage
from digest import deliver, edition, extract, render, summarize, tokens
from digest.config import Config, SourceConfig
from digest.errors import (
    PermanentFailure,
    SourceError,
    TemporaryFailure,
    TransportUnavailable,
    UsageError,
)
from digest.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Edition,
    Email,
    Extracted,
    FeedResult,
    Page,
    Recipient,
    Summary,
)
from digest.store import Store
from digest.text import word_count
from digest.workers import Workers, run_here

SAMPLE_RECIPIENT = Recipient(email="reader@example.com", name="Reader")


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- collect ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectReport:
    results: list[FeedResult]
    new: int
    updated: int
    page_errors: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def collect(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    progress: Callable[[FeedResult], None] | None = None,
) -> CollectReport:
    now = now or utcnow()
    with Workers() as workers:
        # 1. Fetch every due source (conditional GET; failures isolated per source).
        states = {state.key: state for state in store.fetch_states()}
        big = len(config.sources) >= PARALLEL_SOURCES
        results = collect_stage.collect_feeds(
            config.sources,
            states,
            config.collect,
            now=now,
            progress=progress,
            parse_in=workers.executor() if big else None,
        )
        # 2. Complete teasers from their article pages (extracted while the rest download).
        by_key = {s.url: s for s in config.sources}
        articles = [a for r in results for a in r.articles]
        articles, page_errors = _complete_from_pages(
            articles, by_key, config, store, workers, now=now
        )
    # 3. Remember the sources' state and the articles (deduplicated, updated in place).
    store.save_fetch_states(r.state for r in results)
    new, updated = store.save_articles(articles, now=now)
    return CollectReport(results, new, updated, page_errors)


def _complete_from_pages(
    articles: list[Article],
    sources: dict[str, SourceConfig],
    config: Config,
    store: Store,
    workers: Workers,
    *,
    now: datetime,
) -> tuple[list[Article], list[str]]:
    """Articles with their page's text where the feed gave a teaser; and the pages that failed."""
    stored = store.stored_versions(articles)
    wanted: dict[str, list[Article]] = {}
    completed: list[Article] = []
    for article in articles:
        known = stored.get(article.id)
        if not _needs_page(article, sources[article.source_key], config.collect.teaser_words):
            completed.append(article)
        elif known is not None and word_count(known.text) > word_count(article.text):
            # Fetched before: keep what the page gave rather than fetch it again.
            completed.append(_with_stored(article, known))
        else:
            wanted.setdefault(article.url, []).append(article)
    found: dict[str, Future[Extracted]] = {}
    many = len(wanted) >= PARALLEL_PAGES

    def received(url: str, page: Page | SourceError) -> None:
        if isinstance(page, Page):
            submit = workers.submit if many else run_here
            found[url] = submit(extract.extract_page, page)

    pages = collect_stage.fetch_pages(wanted, config.collect, received=received) if wanted else {}
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
    except Exception as error:
        return f"cannot extract the text: {type(error).__name__}: {error}"


PARALLEL_SOURCES = 32
"""From this many sources on, feeds are parsed in worker processes (see digest.workers)."""
PARALLEL_PAGES = 64
"""From this many pages on, pages are extracted in worker processes while the rest download."""


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
    if "published" in guessed and found.published:
        published = min(found.published, now)
        guessed.discard("published")
    longer = word_count(found.text) > word_count(article.text)
    return replace(
        article,
        text=found.text if longer else article.text,
        title=title,
        published=published,
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
        author=article.author or stored.author,
        image=article.image or stored.image,
        language=article.language or stored.language,
    )


# --- build -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildReport:
    edition: Edition | None
    email: Email | None
    paths: dict[str, Path] = field(default_factory=dict)
    message: str = ""
    """Why nothing was built, or that an already-sent edition was kept."""


def build(config: Config, store: Store, *, now: datetime | None = None) -> BuildReport:
    """Build today's edition (or rebuild it while nobody has been sent it yet) and archive it."""
    now = now or utcnow()
    local_now = now.astimezone(ZoneInfo(config.newsletter.timezone))
    key = edition.edition_key(local_now)
    existing = store.edition(key)
    if existing is not None and store.deliveries(key):
        paths = {name: store.data_dir / "editions" / key / name for name in ARCHIVE_FILES}
        return BuildReport(
            None, existing.email, paths, f"edition {key} is already being sent; kept as it is"
        )
    articles = _candidates(config, store, key=key, now=now)
    if len(articles) < max(config.edition.min_articles, 1):
        return BuildReport(
            None,
            None,
            message=f"no edition: {len(articles)} new articles (need {max(config.edition.min_articles, 1)})",
        )
    number = existing.number if existing else store.next_edition_number()
    built, email = _make_edition(config, store, articles, key=key, number=number, now=now)
    if not built.items and not built.more:
        return BuildReport(
            None,
            None,
            message=f"no edition: the {len(articles)} new articles only repeat stories already sent",
        )
    store.save_edition(
        email, number=number, built=now, article_ids=built.article_ids, stories=_story_ids(built)
    )
    paths = store.write_archive(key, _archive_files(config, built, email, now=now))
    return BuildReport(built, email, paths)


def _story_ids(built: Edition) -> dict[str, str]:
    """Each carried article's story id."""
    return {
        a.id: item.story for item in built.items + built.more for a in (item.article, *item.also)
    }


ARCHIVE_FILES = ("edition.html", "edition.txt", "edition.json", "sample.eml")


def preview(config: Config, store: Store, *, now: datetime | None = None) -> BuildReport:
    """Render the next edition from what is collected, saving nothing but preview files."""
    now = now or utcnow()
    local_now = now.astimezone(ZoneInfo(config.newsletter.timezone))
    key = edition.edition_key(local_now)
    articles = _candidates(config, store, key=key, now=now) or store.latest_articles(60)
    if not articles:
        return BuildReport(None, None, message="nothing collected yet: run `digest collect` first")
    number = store.next_edition_number()
    built, email = _make_edition(config, store, articles, key=key, number=number, now=now)
    paths = store.write_archive("preview", _archive_files(config, built, email, now=now))
    return BuildReport(built, email, paths)


def _candidates(config: Config, store: Store, *, key: str, now: datetime) -> list[Article]:
    return store.candidate_articles(since=_since(config, store, key=key, now=now), edition_key=key)


def _since(config: Config, store: Store, *, key: str, now: datetime) -> datetime:
    previous = store.latest_edition(before=key)
    return edition.candidates_since(
        now, window=config.collect.window, last_edition=previous.built if previous else None
    )


@dataclass(frozen=True)
class StoriesReport:
    candidates: int
    """New articles the next edition may carry."""
    plan: edition.Plan


def stories(config: Config, store: Store, *, now: datetime | None = None) -> StoriesReport:
    """How the next edition would group, rank and place the collected articles (saves nothing)."""
    now = now or utcnow()
    key = edition.edition_key(now.astimezone(ZoneInfo(config.newsletter.timezone)))
    articles = _candidates(config, store, key=key, now=now)
    found = _stories(config, store, articles, key=key, now=now)
    return StoriesReport(len(articles), edition.plan_edition(found, config.edition))


def _stories(
    config: Config, store: Store, articles: Sequence[Article], *, key: str, now: datetime
) -> list[edition.Story]:
    """The articles grouped into stories, with what earlier editions carried of them."""
    since = edition.sent_since(_since(config, store, key=key, now=now))
    sent = store.sent_articles(since=since, before=key)
    return edition.group_stories(articles, now=now, sent=sent, settings=config.edition)


def _make_edition(
    config: Config,
    store: Store,
    articles: Sequence[Article],
    *,
    key: str,
    number: int,
    now: datetime,
) -> tuple[Edition, Email]:
    found = _stories(config, store, articles, key=key, now=now)
    # Summaries are cached per article content and settings: a rebuild costs nothing.
    plan = edition.plan_edition(found, config.edition)
    summaries = {s.lead.id: _summary(s.lead, config, store) for s in plan.shown}
    local_now = now.astimezone(ZoneInfo(config.newsletter.timezone))
    draft = edition.build_edition(
        found, summaries, config.edition, key=key, number=number, date=local_now
    )
    email, fitted = render.render_email(draft, config.newsletter, config.render)
    return fitted, email


def _summary(article: Article, config: Config, store: Store) -> Summary:
    settings = summarize.Settings(
        sentences=config.summary.sentences,
        max_words=config.summary.max_words,
        method=config.summary.method,
    )
    cached = store.cached_summary(article, settings.key)
    if cached is not None:
        return cached
    summary = summarize.summarize(article, settings)
    store.save_summary(article, settings.key, summary)
    return summary


def _archive_files(
    config: Config, built: Edition, email: Email, *, now: datetime
) -> dict[str, str | bytes]:
    html, text = render.personalize(email, _web_reader(config))
    # The sample is public (digest serve shows it): its link is signed only when a key is set.
    reader = _recipient(
        config, SAMPLE_RECIPIENT.email, secret=config.secret, name=SAMPLE_RECIPIENT.name
    )
    sample = _message(config, email, reader, now=now)
    return {
        "edition.html": html,
        "edition.txt": text,
        "edition.json": json.dumps(render.edition_json(built), indent=2, ensure_ascii=False),
        "sample.eml": sample,
    }


# --- send ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    edition_key: str
    counts: dict[str, int]
    """Recipients by what this run left them at: sent, deferred, failed, skipped."""
    problems: list[str]
    """'address: reply' for each recipient this run left deferred or failed."""
    stopped: str = ""
    """Why the run stopped before trying everyone due (the transport became unavailable)."""


BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
"""How long a deferred recipient waits for a later run, by the attempts made so far."""


def send(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    transport: deliver.Transport | None = None,
    progress: Callable[[str, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SendReport:
    """Deliver the latest edition to every confirmed subscriber who has not received it yet.

    A temporary failure is retried within the run (``delivery.retries_per_run`` times,
    after ``delivery.retry_pause``, doubling); a recipient it still fails for is deferred
    to a later run (after BACKOFF), up to ``delivery.max_attempts`` attempts in all.
    ``should_stop`` is asked before each message: once it says True, the rest stay in the
    ledger for the next run (the daemon's SIGTERM).
    """
    now = now or utcnow()
    record = store.latest_edition()
    if record is None:
        raise UsageError("no edition to send yet: run `digest build` first")
    # 1. Everything signing needs, checked before anyone is sent anything.
    secret = _unsubscribe_secret(config)
    signer = deliver.make_signer(config)
    # 2. A ledger row for every confirmed subscriber who has none for this edition yet.
    emails = [s.email for s in store.subscribers(status="confirmed")]
    store.plan_deliveries(record.key, emails, now=now)
    # 3. Hand the due ones to the transport, one at a time, through the ledger.
    run = _SendRun(
        config,
        store,
        record.email,
        transport or deliver.make_transport(config),
        signer=signer,
        secret=secret,
        start=now,
        progress=progress,
    )
    stopped = ""
    try:
        run.deliver_due(should_stop)
    except TransportUnavailable as error:
        stopped = str(error)
    finally:
        run.transport.close()
    return run.report(stopped)


class _SendRun:
    """One `digest send`: walks the ledger rows that are due and records each outcome."""

    def __init__(
        self,
        config: Config,
        store: Store,
        email: Email,
        transport: deliver.Transport,
        *,
        signer: deliver.DkimSigner | None,
        secret: str,
        start: datetime,
        progress: Callable[[str, str], None] | None,
    ) -> None:
        self.config, self.store, self.email, self.transport = config, store, email, transport
        self.signer, self.secret, self.start, self.progress = signer, secret, start, progress
        self.names = {s.email.lower(): s.name for s in store.subscribers(status=None)}
        self.outcomes: dict[str, tuple[str, str]] = {}
        self._started = time.monotonic()

    def now(self) -> datetime:
        """The run's clock: ``start`` moved on by the time spent since."""
        return self.start + timedelta(seconds=time.monotonic() - self._started)

    def deliver_due(self, should_stop: Callable[[], bool] | None = None) -> None:
        settings = self.config.delivery
        stop = should_stop or (lambda: False)
        due = [d for d in self.store.deliveries(self.email.edition_key) if _is_due(d, self.start)]
        for retry in range(settings.retries_per_run + 1):
            if retry:
                if stop():
                    return
                time.sleep(settings.retry_pause.total_seconds() * 2 ** (retry - 1))
            deferred = []
            for delivery in due:
                if stop():
                    return  # the rest stay in the ledger as they are, for the next run
                if self.deliver_one(delivery) == "deferred":
                    deferred.append(delivery)
            if not deferred:
                break
            due = self._reloaded(deferred)

    def deliver_one(self, delivery: Delivery) -> str:
        """Send one recipient the edition, with the ledger around it; return the new status."""
        key, address = self.email.edition_key, delivery.email
        if self.store.subscriber_status(address) != "confirmed":
            return self._record(delivery, "skipped", "no longer subscribed", attempted=False)
        message = self.message_for(address)
        # Recorded before the hand-over: a "sending" row found after a crash is sent again,
        # so a crash costs at most the one duplicate whose acceptance was not yet recorded.
        self.store.mark_delivery(key, address, "sending", now=self.now())
        try:
            self.transport.send(message)
        except TransportUnavailable:
            # Nothing was handed over: the row waits for the next run as it was.
            self.store.mark_delivery(
                key,
                address,
                "deferred" if delivery.status == "deferred" else "pending",
                now=self.now(),
                reply=delivery.reply,
                next_attempt=delivery.next_attempt,
            )
            raise
        except TemporaryFailure as failure:
            if delivery.attempts + 1 >= self.config.delivery.max_attempts:
                return self._record(delivery, "failed", str(failure))
            return self._record(delivery, "deferred", str(failure))
        except PermanentFailure as failure:
            return self._record(delivery, "failed", str(failure))
        return self._record(delivery, "sent", "")

    def _record(
        self, delivery: Delivery, status: DeliveryStatus, reply: str, *, attempted: bool = True
    ) -> str:
        now = self.now()
        retry_at = None
        if status == "deferred":
            retry_at = now + BACKOFF[min(delivery.attempts, len(BACKOFF) - 1)]
        self.store.mark_delivery(
            self.email.edition_key,
            delivery.email,
            status,
            now=now,
            reply=reply,
            next_attempt=retry_at,
            attempted=attempted,
        )
        self.outcomes[delivery.email] = (status, reply)
        if self.progress:
            self.progress(delivery.email, status)
        return status

    def _reloaded(self, deliveries: list[Delivery]) -> list[Delivery]:
        rows = {d.email: d for d in self.store.deliveries(self.email.edition_key)}
        return [rows[d.email] for d in deliveries]

    def message_for(self, address: str) -> deliver.Outgoing:
        name = self.names.get(address.lower(), "")
        recipient = _recipient(self.config, address, secret=self.secret, name=name)
        data = _message(self.config, self.email, recipient, now=self.start)
        return deliver.Outgoing(
            sender=deliver.ascii_domain(self.config.newsletter.from_address),
            recipient=deliver.ascii_domain(address),
            data=self.signer.sign(data) if self.signer else data,
            batch=self.email.edition_key,
        )

    def report(self, stopped: str) -> SendReport:
        counts = dict.fromkeys(("sent", "deferred", "failed", "skipped"), 0)
        for status, _ in self.outcomes.values():
            counts[status] += 1
        waiting = [
            d
            for d in self.store.deliveries(self.email.edition_key)
            if d.email not in self.outcomes and d.status == "deferred"
        ]
        counts["deferred"] += len(waiting)
        problems = [
            f"{address}: {reply}"
            for address, (status, reply) in self.outcomes.items()
            if status in ("deferred", "failed")
        ]
        return SendReport(self.email.edition_key, counts, problems, stopped)


def _is_due(delivery: Delivery, now: datetime) -> bool:
    if delivery.status in ("pending", "sending"):
        return True
    return delivery.status == "deferred" and (
        delivery.next_attempt is None or delivery.next_attempt <= now
    )


def _unsubscribe_secret(config: Config) -> str:
    """The key for one-click unsubscribe links: needed once there is a base URL to link to."""
    if not config.newsletter.base_url:
        return ""
    return config.require_secret("the unsubscribe links (newsletter.base_url is set)")


def _message(config: Config, email: Email, recipient: Recipient, *, now: datetime) -> bytes:
    html, text = render.personalize(email, recipient)
    return deliver.compose(
        subject=email.subject,
        html=html,
        text=text,
        recipient=recipient,
        newsletter=config.newsletter,
        edition_key=email.edition_key,
        now=now,
    )


def _recipient(config: Config, address: str, *, secret: str, name: str = "") -> Recipient:
    url = ""
    if config.newsletter.base_url and secret:
        url = unsubscribe_url(config.newsletter.base_url, address, secret)
    return Recipient(
        email=address,
        name=name,
        unsubscribe_url=url,
        unsubscribe_mailto=_unsubscribe_mailto(config),
    )


def _web_reader(config: Config) -> Recipient:
    """Whoever reads the web edition: no name, and the site's unsubscribe page (no token)."""
    base = config.newsletter.base_url.rstrip("/")
    return Recipient(
        email="",
        unsubscribe_url=f"{base}/unsubscribe" if base else "",
        unsubscribe_mailto=_unsubscribe_mailto(config),
    )


def unsubscribe_url(base_url: str, address: str, secret: str) -> str:
    token = tokens.sign(address, "unsubscribe", secret)
    return f"{base_url.rstrip('/')}/unsubscribe?t={token}"


def _unsubscribe_mailto(config: Config) -> str:
    return f"mailto:{config.newsletter.from_address}?subject=unsubscribe"
