from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from digest.config import EditionConfig
from digest.edition import build_edition, candidates_since, group_stories, section_order

from .samples import NOW, sample_article, sample_summary


def test_the_same_headline_in_two_feeds_is_one_story_told_by_the_higher_priority_source() -> None:
    a = replace(sample_article(1, title="Bank holds rates"), source="Wire", priority=0)
    b = replace(sample_article(2, title="Bank Holds Rates!"), source="EconoTimes", priority=2)
    c = sample_article(3, title="Oil falls")
    stories = group_stories([a, b, c], now=NOW)
    assert len(stories) == 2
    assert stories[0].lead.source == "EconoTimes"
    assert [x.source for x in stories[0].articles[1:]] == ["Wire"]


def test_a_story_covered_by_more_sources_ranks_first() -> None:
    lone = replace(sample_article(1, title="Fresh single-source item"), published=NOW)
    shared = [
        replace(
            sample_article(i, title="Shared event"),
            source=f"Outlet {i}",
            published=NOW - timedelta(hours=5),
        )
        for i in (2, 3)
    ]
    stories = group_stories([lone, *shared], now=NOW)
    assert stories[0].lead.title == "Shared event"


def test_ranking_is_deterministic() -> None:
    articles = [
        replace(sample_article(i), published=NOW, priority=0, title=f"T{i}") for i in range(6)
    ]
    first = [s.lead.id for s in group_stories(articles, now=NOW)]
    assert first == [s.lead.id for s in group_stories(list(reversed(articles)), now=NOW)]


def test_top_stories_then_sections_in_configured_order_each_capped() -> None:
    articles = [sample_article(i) for i in range(20)]
    summaries = {a.id: sample_summary(a) for a in articles}
    settings = EditionConfig(top_stories=2, max_per_section=2, sections=("Politics", "Economy"))
    edition = build_edition(
        group_stories(articles, now=NOW), summaries, settings, key="k", number=1, date=NOW
    )
    assert len(edition.top) == 2
    names = [s.name for s in edition.sections]
    assert names[:2] == ["Politics", "Economy"]
    assert names[2:] == sorted(names[2:])
    assert all(len(s.items) <= 2 for s in edition.sections)
    ranks = [i.rank for i in edition.items]
    assert ranks[:2] == [0, 1]
    for section in edition.sections:
        assert [i.rank for i in section.items] == sorted(i.rank for i in section.items)


def test_section_order() -> None:
    assert section_order(["b", "a", "c"], ["c", "x"]) == ["c", "a", "b"]


def test_the_window_stretches_back_to_the_last_edition() -> None:
    now = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    day = timedelta(hours=24)
    assert candidates_since(now, window=day, last_edition=None) == now - day
    assert candidates_since(now, window=day, last_edition=now - timedelta(hours=3)) == now - day
    assert candidates_since(
        now, window=day, last_edition=now - timedelta(hours=48)
    ) == now - timedelta(hours=48)
