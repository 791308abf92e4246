"""Build: candidates -> summaries -> stories -> edition -> email, archived (or only previewed)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest import edition, render
from digest.config import WEEKDAYS, Config, format_duration
from digest.models import DEFAULT_NEWSLETTER, Article, Delivery, Edition, Email, Recipient, Summary
from digest.newsletters import Variant, key_of, pattern_of, series
from digest.pipeline import audience
from digest.pipeline.messages import compose_message, recipient_for, web_reader
from digest.store import Store, utcnow

if TYPE_CHECKING:
    from digest import summarize

SAMPLE_RECIPIENT = Recipient(email="reader@example.com", name="Reader")


@dataclass(frozen=True)
class BuildReport:
    edition: Edition | None
    email: Email | None
    paths: dict[str, Path] = field(default_factory=dict)
    message: str = ""
    """Why nothing was built, or that an already-sent edition was kept."""
    variants: int = 1
    """How many renderings were made: the edition itself and one per readers' variant."""


def build(config: Config, store: Store, *, now: datetime | None = None) -> BuildReport:
    """Build today's edition (or rebuild it while nobody has been sent it yet) and archive it."""
    now = now or utcnow()
    key = key_of(config, now)
    existing = store.edition(key)
    if existing is not None and existing.sealed:
        return _kept(store, key)
    chosen = audience.readers(config, store)
    if not chosen and (config.slug, config.frequency) != (DEFAULT_NEWSLETTER, "daily"):
        return BuildReport(None, None, message=f"no edition {key}: nobody reads it")
    articles = _candidates(config, store, key=key, now=now)
    if len(articles) < max(config.edition.min_articles, 1):
        return BuildReport(None, None, message=_why_empty(config, store, articles, now=now))
    number = existing.number if existing else store.next_edition_number()
    built, email, found = _make_edition(config, store, articles, key=key, number=number, now=now)
    if not built.items and not built.more:
        return BuildReport(
            None,
            None,
            message=f"no edition: the {len(articles)} new articles only repeat stories already sent",
        )
    wanted = audience.variants(config, chosen)
    variants = _render_variants(config, store, found, wanted, key=key, number=number, now=now)
    # A compare-and-set on the version read above: a send that claimed it meanwhile wins.
    if not store.save_edition(
        email,
        number=number,
        built=now,
        article_ids=built.article_ids,
        stories=_story_ids(built),
        replacing=existing.version if existing else 0,
        variants=variants,
    ):
        return _kept(store, key)
    paths = store.write_archive(key, _archive_files(config, built, email, now=now))
    return BuildReport(built, email, paths, variants=len(variants) + 1)


def _kept(store: Store, key: str) -> BuildReport:
    """The report of a build that left the edition as it was: a send has claimed it."""
    record = store.edition(key)
    paths = {name: store.data_dir / "editions" / key / name for name in ARCHIVE_FILES}
    return BuildReport(
        None, record.email if record else None, paths, _kept_why(key, store.deliveries(key))
    )


def _kept_why(key: str, ledger: Sequence[Delivery]) -> str:
    """Why a rebuild keeps the edition: it is being sent, or it was sent."""
    states = Counter(d.status for d in ledger)
    waiting = states["pending"] + states["sending"] + states["deferred"]
    if waiting or not ledger:
        done = len(ledger) - waiting
        return f"edition {key} is being sent ({done} of {len(ledger)} done); kept as it is"
    done_states = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    return f"edition {key} was already sent ({done_states}); kept as it is"


def _why_empty(config: Config, store: Store, articles: Sequence[Article], *, now: datetime) -> str:
    """Why there is no edition, with the numbers: what is too old, the newest's age, the option."""
    need = max(config.edition.min_articles, 1)
    key = key_of(config, now)
    since = _since(config, store, key=key, now=now)
    older = [
        a
        for a in _carried(config, store.candidate_articles(since=EPOCH, edition_key=key))
        if a.published < since
    ]
    line = f"no edition: {len(articles)} new articles (need {need}" + (
        ": edition.min_articles)" if need > 1 else ")"
    )
    if not older:
        return line + ("" if articles else "; nothing older waits either: check the sources")
    newest = max(a.published for a in older)
    window = format_duration(config.collect.window)
    return (
        f"{line}; {len(older)} collected articles are older than collect.window ({window}), "
        f"the newest published {_age(now - newest)} ago: raise collect.window in {config.path} "
        "to include them"
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _age(span: timedelta) -> str:
    """'3d 4h', '5h 20m', '12m'."""
    minutes = max(int(span.total_seconds() // 60), 0)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def _story_ids(built: Edition) -> dict[str, str]:
    """Each carried article's story id."""
    return {
        a.id: item.story for item in built.items + built.more for a in (item.article, *item.also)
    }


ARCHIVE_FILES = ("edition.html", "edition.txt", "edition.json", "sample.eml")


def preview(config: Config, store: Store, *, now: datetime | None = None) -> BuildReport:
    """Render the next edition from what is collected, saving nothing but preview files."""
    now = now or utcnow()
    key = key_of(config, now)
    articles = _candidates(config, store, key=key, now=now)
    message = ""
    if not articles:
        articles = store.latest_articles(PREVIEW_FALLBACK)
        if not articles:
            return BuildReport(
                None, None, message="nothing collected yet: run `digest collect` first"
            )
        message = (
            f"{_why_empty(config, store, [], now=now)}\n"
            f"previewing the {len(articles)} latest collected articles instead "
            "(already sent or not, any age): this is not what `digest build` would make"
        )
    number = store.next_edition_number()
    built, email, _ = _make_edition(config, store, articles, key=key, number=number, now=now)
    paths = store.write_archive("preview", _archive_files(config, built, email, now=now))
    return BuildReport(built, email, paths, message)


PREVIEW_FALLBACK = 60
"""With no new article, preview shows this many of the latest collected ones."""


def _candidates(config: Config, store: Store, *, key: str, now: datetime) -> list[Article]:
    since = _since(config, store, key=key, now=now)
    found = store.candidate_articles(since=since, edition_key=key, series=pattern_of(config))
    return _carried(config, found)


def _carried(config: Config, articles: list[Article]) -> list[Article]:
    """The articles of the sources the newsletter carries."""
    if config.only_sources is None:
        return articles
    carried = set(config.only_sources)
    return [a for a in articles if a.source_key in carried]


def _since(config: Config, store: Store, *, key: str, now: datetime) -> datetime:
    previous = store.latest_edition(before=key, series=pattern_of(config))
    return edition.candidates_since(
        now, window=config.collect.window, last_edition=previous.built if previous else None
    )


@dataclass(frozen=True)
class StoriesReport:
    candidates: int
    """New articles the next edition may carry."""
    plan: edition.Plan
    why_empty: str = ""
    """Why the next edition would have no article (as `digest build` says it), or ""."""


def stories(config: Config, store: Store, *, now: datetime | None = None) -> StoriesReport:
    """How the next edition would group, rank and place the collected articles (saves nothing)."""
    now = now or utcnow()
    key = key_of(config, now)
    articles = _candidates(config, store, key=key, now=now)
    found = _stories(config, store, articles, key=key, now=now)
    why = _why_empty(config, store, articles, now=now) if not articles else ""
    return StoriesReport(len(articles), edition.plan_edition(found, config.edition), why)


def _stories(
    config: Config, store: Store, articles: Sequence[Article], *, key: str, now: datetime
) -> list[edition.Story]:
    """The articles grouped into stories, with what earlier editions carried of them."""
    since = edition.sent_since(_since(config, store, key=key, now=now))
    sent = store.sent_articles(since=since, before=key, series=pattern_of(config))
    return edition.group_stories(
        articles, now=now, sent=sent, settings=config.edition, weekly=config.frequency == "weekly"
    )


def _make_edition(
    config: Config,
    store: Store,
    articles: Sequence[Article],
    *,
    key: str,
    number: int,
    now: datetime,
) -> tuple[Edition, Email, list[edition.Story]]:
    found = _stories(config, store, articles, key=key, now=now)
    fitted, email = _render_variant(
        config, store, found, Variant(), key=key, number=number, now=now
    )
    return fitted, email, found


def _render_variant(
    config: Config,
    store: Store,
    found: Sequence[edition.Story],
    variant: Variant,
    *,
    key: str,
    number: int,
    now: datetime,
) -> tuple[Edition, Email]:
    """One rendering of the edition: the stories of the variant's sections, in its language."""
    if variant.sections:
        chosen = set(variant.sections)
        found = [s for s in found if s.lead.section in chosen]
    # Summaries are cached per article content and settings: a rebuild costs nothing.
    plan = edition.plan_edition(found, config.edition)
    summaries = {s.lead.id: _summary(s.lead, config, store) for s in plan.shown}
    local_now = now.astimezone(ZoneInfo(config.newsletter.timezone))
    draft = edition.build_edition(
        found, summaries, config.edition, key=key, number=number, date=local_now
    )
    newsletter = config.newsletter
    if variant.language:
        newsletter = replace(newsletter, language=variant.language)
    email, fitted = render.render_email(draft, newsletter, config.render)
    return fitted, email


def _render_variants(
    config: Config,
    store: Store,
    found: Sequence[edition.Story],
    wanted: Sequence[Variant],
    *,
    key: str,
    number: int,
    now: datetime,
) -> dict[str, Email]:
    """Each readers' variant rendered once, by name (the edition itself is not among them)."""
    made = {}
    for variant in wanted:
        _, email = _render_variant(config, store, found, variant, key=key, number=number, now=now)
        made[variant.name] = email
    return made


def unsummarized(config: Config, store: Store, *, now: datetime) -> list[str]:
    """The next edition's shown articles that have no summary cached yet: what summarize
    jobs can do ahead of the build, on other machines (a variant of fewer sections may show
    a few more, which the build summarizes itself)."""
    key = key_of(config, now)
    articles = _candidates(config, store, key=key, now=now)
    if not articles:
        return []
    plan = edition.plan_edition(_stories(config, store, articles, key=key, now=now), config.edition)
    settings = _summary_settings(config).key
    return [s.lead.id for s in plan.shown if store.cached_summary(s.lead, settings) is None]


def summarize_articles(config: Config, store: Store, article_ids: Sequence[str]) -> int:
    """Summarize these articles into the cache the build reads (as it would); how many."""
    done = 0
    for article_id in article_ids:
        article = store.article(article_id)
        if article is not None:
            _summary(article, config, store)
            done += 1
    return done


def _summary_settings(config: Config) -> summarize.Settings:
    # Imported here: sumy brings all of nltk (and scipy and scikit-learn where installed), over
    # a second of CPU that a build with nothing new to summarize, or none at all, never needs.
    from digest import summarize

    return summarize.Settings(
        sentences=config.summary.sentences,
        max_words=config.summary.max_words,
        method=config.summary.method,
    )


def _summary(article: Article, config: Config, store: Store) -> Summary:
    settings = _summary_settings(config)
    cached = store.cached_summary(article, settings.key)
    if cached is not None:
        return cached
    from digest import summarize

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


def build_all(config: Config, store: Store, *, now: datetime | None = None) -> list[BuildReport]:
    """Build each newsletter's edition, daily and weekly (one nobody reads is not made).

    The default newsletter's daily edition comes first and is always reported, as before
    there were several; a weekly one is made on its ``weekly_on`` day only.
    """
    now = now or utcnow()
    reports = []
    for one in series(config):
        default = (one.slug, one.frequency) == (DEFAULT_NEWSLETTER, "daily")
        if one.frequency == "weekly" and not _weekly_day(one, now):
            continue
        report = build(one, store, now=now)
        if default or report.email is not None or not report.message.endswith("nobody reads it"):
            reports.append(report)
    return reports


def _weekly_day(config: Config, now: datetime) -> bool:
    """Whether ``now`` is, in the newsletter's time zone, on or after its weekly day this week."""
    local = now.astimezone(ZoneInfo(config.newsletter.timezone))
    return local.weekday() >= WEEKDAYS.index(config.schedule.weekly_on)
