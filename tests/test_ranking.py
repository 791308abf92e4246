"""Ranking by distinct outlets: the per-outlet cap on top stories, and no outlet filling the edition."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from digest.config import EditionConfig
from digest.edition import Member, Score, Story, explain, group_stories, outlet, plan_edition
from digest.models import Article

from . import newsroom
from .newsroom import NOW
from .samples import sample_article


def as_feed(article: Article, section: str) -> Article:
    """The article as another feed of its outlet would carry it (same name, other section)."""
    return replace(article, id=f"{article.id}/{section}", section=section)


def test_several_feeds_of_one_outlet_count_as_one_outlet() -> None:
    fire = [newsroom.article(key) for key in newsroom.FIRE]  # Harbour Herald and Metro Wire
    herald = newsroom.article("herald-tram")
    # The tram story only in two feeds of the Harbour Herald, the name spelled two ways.
    feeds = [herald, replace(as_feed(herald, "Transport"), source=" harbour  HERALD")]
    stories = group_stories([*fire, *feeds], now=NOW)
    assert [len(s.articles) for s in stories] == [2, 2]
    by_lead = {s.lead.id: s for s in stories}
    assert by_lead["tag:herald-fire"].score.sources == 2
    assert by_lead["tag:herald-tram"].score.sources == 1
    assert stories[0].lead.id == "tag:herald-fire", "two outlets rank above one outlet's two feeds"
    assert outlet(feeds[1]) == outlet(herald)


def test_top_stories_are_capped_per_outlet_and_told_by_another_outlet() -> None:
    stories = group_stories(newsroom.day(), now=NOW)
    # The Harbour Herald (priority 2) tells both shared stories when nothing limits it.
    free = plan_edition(stories, EditionConfig(top_stories=2, top_per_outlet=0))
    assert [s.lead.source for s in free.top] == ["Harbour Herald", "Harbour Herald"]

    capped = plan_edition(stories, EditionConfig(top_stories=2, top_per_outlet=1))
    tram, fire = capped.top
    assert tram.lead.source == "Harbour Herald"
    assert fire.lead.id == "tag:wire-fire", "the fire is told by the other outlet that covered it"
    assert [a.id for a in fire.articles] == ["tag:wire-fire", "tag:herald-fire"]
    assert fire.note == "Harbour Herald already tells 1 top story"
    assert "   told by Metro Wire: Harbour Herald already tells 1 top story" in explain(capped)
    assert {s.lead.id for s in capped.shown} == {s.lead.id for s in free.shown} - {
        "tag:herald-fire"
    } | {"tag:wire-fire"}


def test_a_story_no_other_outlet_covers_leaves_the_top_for_its_section() -> None:
    herald = [a for a in newsroom.day() if a.source == "Harbour Herald"]
    others = [a for a in newsroom.day() if a.source != "Harbour Herald" and a.id != "tag:wire-fire"]
    stories = group_stories([*herald, *others], now=NOW)
    plan = plan_edition(stories, EditionConfig(top_stories=3, top_per_outlet=1))
    assert Counter(s.lead.source for s in plan.top) == Counter(
        {"Harbour Herald": 1, "Valley Times": 1, "Metro Wire": 1}
    )
    # The fire, covered by the Herald alone now, is still in the edition, in its section.
    assert any(s.lead.id == "tag:herald-fire" for _, below in plan.sections for s in below)


def single(i: int, source: str, priority: int, freshness: float) -> Story:
    """A story of one article, scored as group_stories scores it."""
    article = replace(sample_article(i), source=source, priority=priority, section="Economy")
    return Story((Member(article),), Score(1, priority, freshness, 1.0), article.id)


def test_one_outlet_with_many_feeds_does_not_fill_a_section() -> None:
    # Eight stories of one outlet, each ranked above the two of another (2.7 against 2.55).
    big = [single(i, "Big Outlet", 1, 0.5) for i in range(8)]
    small = [single(8 + i, "Small Outlet", 0, 0.55) for i in range(2)]
    plan = plan_edition([*big, *small], EditionConfig(top_stories=0, max_per_section=5))
    [(_, shown)] = plan.sections
    assert Counter(s.lead.source for s in shown) == Counter({"Big Outlet": 3, "Small Outlet": 2})
    assert [s.score.repeats for s in shown if s.lead.source == "Big Outlet"] == [0, 1, 2]
    assert [s.score.total for s in shown] == sorted((s.score.total for s in shown), reverse=True)
    assert [s.lead.source[0] for s in shown] == ["B", "B", "S", "B", "S"]
    assert "   score 2.50 = 1 × (2×1 outlets +0.2 priority + 0.50 fresh - 0.2 repeat)" in explain(
        plan
    )
