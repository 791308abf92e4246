"""Small editions and articles written for the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.config import EditionConfig
from digest.edition import build_edition, group_stories
from digest.models import Article, Edition, Image, Summary

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
        title=title or f"Story {i}: Output & Prices <Rise> in {_place(i)}",
        text=f"{_good(i).title()} output rose {i}.5 percent in {_place(i)}, its ministry of {_good(i)} trade said. Prices followed.",
        published=NOW - timedelta(minutes=17 * i + 5),
        author=f"Reporter {i}",
        image=Image(f"https://news.example.com/img/{i}.png", f"Chart {i}", 600, 320)
        if i % 2 == 0
        else None,
        priority=i % 3,
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
