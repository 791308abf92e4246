from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from digest.config import EditionConfig, Weights
from digest.edition import (
    Story,
    build_edition,
    candidates_since,
    explain,
    group_stories,
    plan_edition,
    section_order,
)
from digest.models import SentArticle

from . import newsroom
from .newsroom import NOW
from .samples import sample_article, sample_summary


def test_shared_events_become_two_stories_ranked_above_single_source_items() -> None:
    stories = group_stories(newsroom.day(), now=NOW)
    ids = [{a.id.removeprefix("tag:") for a in s.articles} for s in stories]
    assert ids[:2] == [set(newsroom.TRAM), set(newsroom.FIRE)]
    assert all(len(group) == 1 for group in ids[2:])
    # Told by the highest-priority source, the others in priority order.
    assert [a.source for a in stories[0].articles] == [
        "Harbour Herald",
        "Valley Times",
        "Metro Wire",
    ]
    assert [a.source for a in stories[1].articles] == ["Harbour Herald", "Metro Wire"]


def test_the_edition_shows_them_as_top_stories_with_also_covered_by() -> None:
    articles = newsroom.day()
    edition = build_edition(
        group_stories(articles, now=NOW),
        {a.id: sample_summary(a) for a in articles},
        EditionConfig(top_stories=2, max_per_section=3),
        key="2026-06-02",
        number=1,
        date=NOW,
    )
    assert [i.article.id for i in edition.top] == ["tag:herald-tram", "tag:herald-fire"]
    assert [a.source for a in edition.top[0].also] == ["Valley Times", "Metro Wire"]
    assert [a.source for a in edition.top[1].also] == ["Metro Wire"]
    assert sorted(i.article.id for i in edition.items[2:]) == sorted(
        f"tag:{key}" for key in newsroom.STORIES if key not in newsroom.TRAM + newsroom.FIRE
    )
    assert not any(i.also or i.update for i in edition.items[2:])
    assert set(edition.article_ids) == {a.id for a in articles}


def test_grouping_and_ranking_do_not_depend_on_input_order() -> None:
    articles = newsroom.day()
    first = [[a.id for a in s.articles] for s in group_stories(articles, now=NOW)]
    again = [[a.id for a in s.articles] for s in group_stories(articles[::-1], now=NOW)]
    assert first == again


def test_events_days_apart_are_not_one_story() -> None:
    tram = newsroom.article("herald-tram")
    echo = replace(newsroom.article("valley-tram"), published=tram.published - timedelta(days=5))
    assert len(group_stories([tram, echo], now=NOW)) == 2
    assert len(group_stories([tram, newsroom.article("valley-tram")], now=NOW)) == 1


def test_section_weights_lift_a_section() -> None:
    articles = [newsroom.article(key) for key in ("wire-airport", "wire-heat")]
    plain = group_stories(articles, now=NOW)
    assert [s.lead.section for s in plain] == ["Weather", "Business"]  # the fresher first
    weighted = group_stories(
        articles, now=NOW, settings=EditionConfig(section_weights=Weights([("Business", 1.5)]))
    )
    assert [s.lead.section for s in weighted] == ["Business", "Weather"]
    assert weighted[0].score.total == 1.5 * plain[1].score.total


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


# --- across editions -------------------------------------------------------------------------

YESTERDAY = NOW - timedelta(days=1)


def carried(*keys: str, **changed: str) -> list[SentArticle]:
    """Yesterday's edition carried these tram articles (as they were then; ``changed`` now)."""
    sent = []
    for key in keys:
        then = newsroom.article(key, now=YESTERDAY)
        sent.append(
            SentArticle(
                replace(then, **changed) if key == keys[0] else then,
                story="tag:herald-tram",
                edition_key="2026-06-01",
                title=then.title,
                text=then.text,
            )
        )
    return sent


TODAY = [newsroom.article(key) for key in ("herald-library", "valley-coach", "wire-heat")]


def tram_story(stories: list[Story]) -> Story:
    return next(s for s in stories if any("tram" in a.id for a in s.articles))


def test_a_story_sent_yesterday_does_not_return_when_it_has_not_grown() -> None:
    sent = carried("herald-tram", "wire-tram")
    # Today: other news, and the Herald's tram article again under a new address.
    repost = replace(newsroom.article("herald-tram"), id="tag:herald-tram-2", url="https://h/2")
    stories = group_stories([*TODAY, repost], now=NOW, sent=sent)
    story = tram_story(stories)
    assert story.held_back and not story.update
    assert {a.id for a in story.articles} == {"tag:herald-tram", "tag:wire-tram", repost.id}
    plan = plan_edition(stories, EditionConfig())
    assert story not in plan.shown
    assert (story, "already in edition 2026-06-01, not grown since") in plan.left_out
    assert {s.lead.id for s in plan.shown} == {a.id for a in TODAY}


def test_a_new_source_brings_it_back_as_an_update() -> None:
    valley = newsroom.article("valley-tram", now=NOW - timedelta(hours=20))
    stories = group_stories([*TODAY, valley], now=NOW, sent=carried("herald-tram", "wire-tram"))
    story = tram_story(stories)
    assert story.update and story.id == "tag:herald-tram"
    assert story.lead == valley, "the update is told by what is new"
    assert story.score.sources == 3
    assert [m.change for m in story.members] == ["new source", "", ""]
    summaries = {s.lead.id: sample_summary(s.lead) for s in stories}
    edition = build_edition(
        stories, summaries, EditionConfig(), key="2026-06-02", number=2, date=NOW
    )
    item = edition.top[0]
    assert item.update and item.article == valley and item.story == "tag:herald-tram"
    assert [a.source for a in item.also] == ["Harbour Herald", "Metro Wire"]


def test_a_substantially_updated_article_brings_it_back_a_small_correction_does_not() -> None:
    original = newsroom.article("herald-tram", now=YESTERDAY)
    grown = original.text + (
        "\n\nOn Tuesday the transport ministry promised £80m towards the line, and the council "
        "said the first construction contracts would be signed in August, with a depot planned "
        "beside the old gasworks on Mill Road."
    )
    updated = group_stories(TODAY, now=NOW, sent=carried("herald-tram", "wire-tram", text=grown))
    story = tram_story(updated)
    assert story.update and story.lead.text == grown
    assert story.members[0].change == "updated"
    corrected = original.title.replace("approves", "backs")
    again = group_stories(TODAY, now=NOW, sent=carried("herald-tram", "wire-tram", title=corrected))
    assert tram_story(again).held_back


def test_explain_says_where_each_article_went_and_why() -> None:
    stories = group_stories(newsroom.day(), now=NOW)
    lines = explain(plan_edition(stories, EditionConfig(top_stories=1, max_per_section=1)))
    text = "\n".join(lines)
    assert lines[0] == "1. top: Riverside council approves £240m tram line to the harbour"
    assert (
        "   also Valley Times: Tram to the harbour gets green light after heated council debate"
        in lines
    )
    assert (
        "shares"
        in lines[
            lines.index(
                "   also Metro Wire: Riverside votes for harbour tram; work to start next spring"
            )
            + 1
        ]
    )
    assert "left out: section City is full (at most 1)" in text
    assert "alone: " in text


def test_also_covered_by_names_other_outlets_once_and_not_the_leads_own_update() -> None:
    from digest.models import Item

    lead = replace(sample_article(1, title="Bank holds rates"), source="EconoTimes")
    update = replace(sample_article(2, title="Bank holds rates (updated)"), source="EconoTimes")
    wire = replace(sample_article(3, title="Rates held"), source="Wire")
    wire_again = replace(sample_article(4, title="Rates held again"), source="Wire")
    item = Item(lead, sample_summary(lead), also=(update, wire, wire_again))
    assert [a.id for a in item.covered_by] == [wire.id]
