"""Build: candidates -> summaries -> stories -> edition -> email, archived (or only previewed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from digest import edition, render, summarize
from digest.config import Config
from digest.models import Article, Edition, Email, Recipient, Summary
from digest.pipeline.messages import compose_message, recipient_for, web_reader
from digest.store import Store, utcnow

SAMPLE_RECIPIENT = Recipient(email="reader@example.com", name="Reader")


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
    key = edition.edition_key(now, config.newsletter.timezone)
    existing = store.edition(key)
    if existing is not None and existing.sealed:
        return _kept(store, key)
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
    # A compare-and-set on the version read above: a send that claimed it meanwhile wins.
    if not store.save_edition(
        email,
        number=number,
        built=now,
        article_ids=built.article_ids,
        stories=_story_ids(built),
        replacing=existing.version if existing else 0,
    ):
        return _kept(store, key)
    paths = store.write_archive(key, _archive_files(config, built, email, now=now))
    return BuildReport(built, email, paths)


def _kept(store: Store, key: str) -> BuildReport:
    """The report of a build that left the edition as it was: a send has claimed it."""
    record = store.edition(key)
    paths = {name: store.data_dir / "editions" / key / name for name in ARCHIVE_FILES}
    return BuildReport(
        None,
        record.email if record else None,
        paths,
        f"edition {key} is already being sent; kept as it is",
    )


def _story_ids(built: Edition) -> dict[str, str]:
    """Each carried article's story id."""
    return {
        a.id: item.story for item in built.items + built.more for a in (item.article, *item.also)
    }


ARCHIVE_FILES = ("edition.html", "edition.txt", "edition.json", "sample.eml")


def preview(config: Config, store: Store, *, now: datetime | None = None) -> BuildReport:
    """Render the next edition from what is collected, saving nothing but preview files."""
    now = now or utcnow()
    key = edition.edition_key(now, config.newsletter.timezone)
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
    key = edition.edition_key(now, config.newsletter.timezone)
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
    html, text = render.personalize(email, web_reader(config))
    # The sample is public (digest serve shows it): its link is signed only when a key is set.
    reader = recipient_for(
        config, SAMPLE_RECIPIENT.email, secret=config.secret, name=SAMPLE_RECIPIENT.name
    )
    sample = compose_message(config, email, reader, now=now)
    return {
        "edition.html": html,
        "edition.txt": text,
        "edition.json": json.dumps(render.edition_json(built), indent=2, ensure_ascii=False),
        "sample.eml": sample,
    }
