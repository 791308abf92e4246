"""The pipeline: the one place that knows the order of the stages.

    collect   feeds -> articles; teasers completed from their pages (collect + extract)
    build     candidates -> summaries -> stories -> edition -> email (summarize, edition, render)
    send      email -> one message per subscriber, through the delivery ledger (render, deliver)

Each function takes the validated Config and the Store and returns a small
report for the CLI. Stages never call each other; they meet here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from digest import collect as collect_stage
from digest import deliver, edition, extract, render, summarize, tokens
from digest.config import Config, SourceConfig
from digest.errors import ConfigError, PermanentFailure, TemporaryFailure, UsageError
from digest.models import (
    Article,
    Edition,
    Email,
    FeedResult,
    Page,
    Recipient,
    Summary,
)
from digest.store import Store
from digest.text import word_count

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
    # 1. Fetch every due source (conditional GET; failures isolated per source).
    states = {s.url: store.fetch_state(s.url) for s in config.sources}
    results = collect_stage.collect_feeds(
        config.sources, states, config.collect, now=now, progress=progress
    )
    # 2. Complete teasers from their article pages.
    by_key = {s.url: s for s in config.sources}
    articles = [a for r in results for a in r.articles]
    articles, page_errors = _complete_from_pages(articles, by_key, config, store)
    # 3. Remember the sources' state and the articles (deduplicated, updated in place).
    for result in results:
        store.save_fetch_state(result.state)
    new, updated = store.save_articles(articles, now=now)
    return CollectReport(results, new, updated, page_errors)


def _complete_from_pages(
    articles: list[Article], sources: dict[str, SourceConfig], config: Config, store: Store
) -> tuple[list[Article], list[str]]:
    """Articles with their page's text where the feed gave a teaser; and the pages that failed."""
    wanted: dict[str, Article] = {}
    completed: list[Article] = []
    for article in articles:
        source = sources[article.source_key]
        stored = store.article(article.id)
        if not _needs_page(article, source, config.collect.teaser_words):
            completed.append(article)
        elif stored is not None and word_count(stored.text) > word_count(article.text):
            # Fetched before: keep the page's text rather than fetch it again.
            completed.append(
                replace(article, text=stored.text, image=article.image or stored.image)
            )
        else:
            wanted[article.url] = article
    pages = collect_stage.fetch_pages(wanted, config.collect) if wanted else {}
    errors = []
    for url, article in wanted.items():
        page = pages[url]
        if isinstance(page, Page):
            completed.append(_with_page(article, page))
        else:
            errors.append(f"{url}: {page}")
            completed.append(article)  # the teaser is better than nothing
    return completed, errors


def _needs_page(article: Article, source: SourceConfig, teaser_words: int) -> bool:
    if source.full_text == "never" or not article.url:
        return False
    return source.full_text == "always" or word_count(article.text) < teaser_words


def _with_page(article: Article, page: Page) -> Article:
    """The article, with what its page adds: the main text, and metadata the feed lacked."""
    found = extract.extract_page(page)
    if word_count(found.text) <= word_count(article.text):
        return article
    return replace(
        article,
        text=found.text,
        title=article.title or found.title,
        author=article.author or found.author,
        image=article.image or found.image,
        language=article.language or found.language,
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
    web_reader = replace(SAMPLE_RECIPIENT, name="", unsubscribe_mailto=_unsubscribe_mailto(config))
    html, text = render.personalize(email, web_reader)
    sample = _message(
        config, email, _recipient(config, SAMPLE_RECIPIENT.email, SAMPLE_RECIPIENT.name), now=now
    )
    return {
        "edition.html": html,
        "edition.txt": text,
        "edition.json": json.dumps(render.edition_json(built), indent=2, ensure_ascii=False),
        "sample.eml": sample.as_bytes(),
    }


# --- send ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    edition_key: str
    counts: dict[str, int]
    problems: list[str]


BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))


def send(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    transport: deliver.Transport | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> SendReport:
    """Deliver the latest edition to every confirmed subscriber who has not received it yet."""
    now = now or utcnow()
    record = store.latest_edition()
    if record is None:
        raise UsageError("no edition to send yet: run `digest build` first")
    key = record.key
    store.plan_deliveries(key, [s.email for s in store.subscribers(status="confirmed")], now=now)
    transport = transport or make_transport(config, store)
    names = {s.email.lower(): s.name for s in store.subscribers(status=None)}
    counts = dict.fromkeys(("sent", "deferred", "failed", "skipped"), 0)
    problems: list[str] = []
    try:
        for delivery in store.deliveries(key):
            if delivery.status in ("sent", "failed", "skipped"):
                continue
            if (
                delivery.status == "deferred"
                and delivery.next_attempt
                and delivery.next_attempt > now
            ):
                counts["deferred"] += 1
                continue
            if store.subscriber_status(delivery.email) != "confirmed":
                store.mark_delivery(
                    key, delivery.email, "skipped", now=now, reply="no longer subscribed"
                )
                counts["skipped"] += 1
                continue
            recipient = _recipient(config, delivery.email, names.get(delivery.email.lower(), ""))
            status, reply = _deliver_one(
                config, store, transport, record.email, recipient, delivery.attempts, now=now
            )
            counts[status] += 1
            if reply:
                problems.append(f"{delivery.email}: {reply}")
            if progress:
                progress(delivery.email, status)
    finally:
        transport.close()
    return SendReport(key, counts, problems)


def _deliver_one(
    config: Config,
    store: Store,
    transport: deliver.Transport,
    email: Email,
    recipient: Recipient,
    attempts: int,
    *,
    now: datetime,
) -> tuple[str, str]:
    key, address = email.edition_key, recipient.email
    message = _message(config, email, recipient, now=now)
    # Recorded before the hand-over: after a crash, a "sending" row is sent again (at most one duplicate).
    store.mark_delivery(key, address, "sending", now=now, attempted=True)
    try:
        transport.send(message, address)
    except TemporaryFailure as failure:
        if attempts + 1 >= config.delivery.max_attempts:
            store.mark_delivery(key, address, "failed", now=now, reply=str(failure))
            return "failed", str(failure)
        retry = now + BACKOFF[min(attempts, len(BACKOFF) - 1)]
        store.mark_delivery(
            key, address, "deferred", now=now, reply=str(failure), next_attempt=retry
        )
        return "deferred", str(failure)
    except PermanentFailure as failure:
        store.mark_delivery(key, address, "failed", now=now, reply=str(failure))
        return "failed", str(failure)
    store.mark_delivery(key, address, "sent", now=now)
    return "sent", ""


def _message(config: Config, email: Email, recipient: Recipient, *, now: datetime) -> EmailMessage:
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


def _recipient(config: Config, address: str, name: str) -> Recipient:
    url = ""
    if config.newsletter.base_url and config.secret:
        token = tokens.sign(address, "unsubscribe", config.secret)
        url = f"{config.newsletter.base_url.rstrip('/')}/unsubscribe?t={token}"
    return Recipient(
        email=address,
        name=name,
        unsubscribe_url=url,
        unsubscribe_mailto=_unsubscribe_mailto(config),
    )


def _unsubscribe_mailto(config: Config) -> str:
    return f"mailto:{config.newsletter.from_address}?subject=unsubscribe"


def make_transport(config: Config, store: Store) -> deliver.Transport:
    if config.delivery.transport == "smtp":
        if config.smtp.username and not config.smtp_password:
            raise ConfigError(
                [
                    f"{config.path}: smtp.password_env: the environment variable {config.smtp.password_env} is not set"
                ]
            )
        return deliver.SmtpTransport(
            config.smtp, password=config.smtp_password, rate_limit=config.delivery.rate_limit
        )
    return deliver.OutboxTransport(outbox_folder(store))


def outbox_folder(store: Store) -> Path:
    return store.data_dir / "outbox"
