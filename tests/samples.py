"""Small editions and articles written for the tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from digest.config import EditionConfig
from digest.edition import build_edition, group_stories
from digest.models import Article, Edition, Image, Item, Summary
from digest.store import Store

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
SECTIONS = ("Economy", "Markets", "Politics", "Commodities", "Central Banks")
# Distinct subjects, so that sample articles are distinct stories to the grouping.
PLACES = [
    "Chile",
    "Norway",
    "Kenya",
    "Vietnam",
    "Peru",
    "Finland",
    "Ghana",
    "Oman",
    "Poland",
    "Chad",
    "Brazil",
    "Japan",
    "Egypt",
    "Canada",
    "Nepal",
    "Spain",
    "Cuba",
    "Iraq",
    "Laos",
    "Mali",
    "Lagos",
    "Oslo",
    "Quito",
    "Hanoi",
    "Lima",
    "Turku",
    "Accra",
    "Muscat",
    "Gdansk",
    "Ndjamena",
    "Recife",
    "Osaka",
    "Giza",
    "Quebec",
    "Pokhara",
    "Seville",
    "Havana",
    "Basra",
    "Pakse",
    "Mopti",
]
GOODS = [
    "copper",
    "salmon",
    "tea",
    "rice",
    "zinc",
    "timber",
    "cocoa",
    "crude",
    "coal",
    "cotton",
    "sugar",
    "steel",
    "lithium",
    "wheat",
    "wool",
    "olive",
    "nickel",
    "dates",
    "coffee",
    "gold",
    "barley",
    "cobalt",
    "soy",
    "rubber",
    "tin",
    "cashew",
    "maize",
    "lamb",
    "silver",
    "hemp",
    "vanilla",
    "pepper",
    "tuna",
    "cement",
    "jute",
    "saffron",
    "potash",
    "shrimp",
    "bauxite",
    "rye",
]


def sample_article(
    i: int, *, section: str | None = None, source: str = "EconoTimes", title: str | None = None
) -> Article:
    return Article(
        id=f"tag:test,2026:{i}",
        source=source,
        section=section or SECTIONS[i % len(SECTIONS)],
        url=f"https://news.example.com/story/{i}?utm_source=rss",
        title=title or f"Story {i}: {_good(i).title()} & Prices <Rise> in {_place(i)}",
        text=(
            f"{_good(i).title()} prices in {_place(i)} climbed {i}.5 percent after "
            f"{CAUSES[i % len(CAUSES)]}, local {_good(i)} traders said."
        ),
        published=NOW - timedelta(minutes=17 * i + 5),
        author=f"Reporter {i}",
        image=Image(f"https://news.example.com/img/{i}.png", f"Chart {i}", 600, 320)
        if i % 2 == 0
        else None,
        priority=i % 3,
    )


CAUSES = (
    "a frost in the highlands",
    "a dock strike at the main port",
    "new export quotas",
    "a surprise tax on exporters",
    "record demand from refiners",
    "floods along the river valley",
    "a currency devaluation",
    "a fire at the largest processing plant",
)


def _place(i: int) -> str:
    return PLACES[i % len(PLACES)]


def _good(i: int) -> str:
    return GOODS[(i * 7) % len(GOODS)]  # 7 is prime to 40: every good once in 40


def sample_summary(article: Article) -> Summary:
    return Summary(
        article.id,
        (
            f"Output rose in region {article.id[-2:]} by more than analysts had expected, officials said on Monday.",
            "Prices followed, with the biggest gains in energy and food.",
            "The central bank is expected to respond at its next meeting in April.",
        ),
        "news",
    )


def sample_edition(count: int, *, number: int = 7) -> Edition:
    articles = [sample_article(i) for i in range(count)]
    summaries = {a.id: sample_summary(a) for a in articles}
    stories = group_stories(articles, now=NOW)
    settings = EditionConfig(top_stories=3, max_per_section=count, sections=SECTIONS)
    return build_edition(stories, summaries, settings, key="2026-03-10", number=number, date=NOW)


LONG_SUMMARY = (
    "The central bank said inflation pressures were easing faster than expected, and officials"
    " signalled that further rate cuts were possible later this year if the labour market kept"
    " cooling. Markets rallied on the news, with bond yields falling to their lowest level since"
    " the spring. Analysts cautioned that energy prices remained a risk for the outlook."
)


def long_story(item: Item, i: int) -> Item:
    """``item`` with a long headline, an 80-word summary, two other outlets and a big picture."""
    title = (
        f"Story {i}: Central Bank Signals Further Rate Cuts as Inflation Eases Faster Than Expected"
    )
    url = f"https://www.example-news-outlet.com/business/economy/2026/03/10/{i}-central-bank-signals-further-rate-cuts-as-inflation-eases"
    picture = Image(
        f"https://cdn.example-news-outlet.com/images/2026/03/10/{i}-photo-1200x675.jpg",
        f"A photo for: {title}",
        1200,
        675,
    )
    article = replace(item.article, title=title, url=url, image=picture)
    others = tuple(
        replace(article, source=name, url=url.replace("example-news-outlet", slug))
        for name, slug in (("Global Markets Wire", "marketwire"), ("The Capital Ledger", "ledger"))
    )
    summary = replace(item.summary, sentences=tuple(LONG_SUMMARY.split(". ")))
    return replace(item, article=article, summary=summary, also=others)


def long_edition(count: int) -> Edition:
    """``sample_edition`` with every story as long as real ones get."""
    edition = sample_edition(count)
    stories = {id(item): long_story(item, i) for i, item in enumerate(edition.items)}
    return replace(
        edition,
        top=tuple(stories[id(i)] for i in edition.top),
        sections=tuple(
            replace(s, items=tuple(stories[id(i)] for i in s.items)) for s in edition.sections
        ),
    )


def claim_one(store: Store, key: str, email: str = "reader@example.com") -> None:
    """Somebody is being sent edition ``key``: one ledger row, claimed (the version is sealed)."""
    record = store.edition(key)
    assert record is not None
    store.plan_deliveries(key, [email], now=NOW)
    won = store.claim_deliveries(
        key, version=record.version, claimant="test", now=NOW, lease_until=NOW, limit=1
    )
    assert won, f"nothing to claim in {key}"
