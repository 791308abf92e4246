"""Grouping keeps single-source items apart, and looks at a bounded number of pairs per word."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pytest
from pytest import MonkeyPatch

from digest import mates, pipeline, similarity, stories
from digest.store import open_store

from .conftest import DemoSite

NOW = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)

# Two outlets on one topic (money chasing yield), but two events: their headlines share no word.
BONDS = stories.Text(
    "Carmakers borrow record sums as bond investors line up",
    "Carmakers sold a record $84 billion of corporate bonds in the first quarter, as investors "
    "hungry for yield lined up for new debt. Bankers said demand for the bonds was the strongest "
    "since 2021, and that companies were racing to borrow before interest rates rise again.",
    NOW,
    "Harbour Herald",
)
LENDING = stories.Text(
    "Insurers pile into private lending, worrying supervisors",
    "Insurers have moved $40 billion into private lending funds this year, chasing higher yield "
    "than corporate bonds pay. Supervisors said the record flows into loans that rarely trade "
    "could leave investors exposed when rates rise.",
    NOW,
    "Valley Times",
)
FERRY = stories.Text(
    "Harbour ferry fares rise by a fifth from July",
    "The harbour ferry company will raise fares by 20 percent from July, blaming fuel costs.",
    NOW,
    "Metro Wire",
)


def test_two_single_source_items_on_one_topic_stay_apart() -> None:
    found = stories.group_texts([BONDS, LENDING, FERRY])
    assert found.groups == ((0,), (1,), (2,))
    # Close enough that the floor for headlines sharing no word is what keeps them apart.
    link = found.nearest[0]
    assert link.other == 1
    assert stories.MIN_SIMILARITY < link.similarity < stories.HEADLINES_APART


def test_without_the_headline_floor_they_would_be_one_story(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(stories, "HEADLINES_APART", stories.MIN_SIMILARITY)
    assert stories.group_texts([BONDS, LENDING, FERRY]).groups == ((0, 1), (2,))


def test_a_word_in_every_article_proposes_a_bounded_number_of_pairs() -> None:
    # 300 articles that share one word and nothing else: only its heaviest rows are paired.
    texts = [stories.Text(f"item{i}", f"market word{i} other{i}", NOW, f"s{i}") for i in range(300)]
    left, right, _ = similarity.similar_pairs(texts)
    assert 0 < len(left) <= similarity.HEADS * (similarity.HEADS - 1) // 2
    assert len(set(zip(left.tolist(), right.tolist(), strict=True))) == len(left)


def test_the_demo_keeps_its_bond_and_private_credit_stories_apart(demo_site: DemoSite) -> None:
    config = demo_site.config()

    def plan() -> pipeline.StoriesReport:
        with open_store(config.data_dir) as store:
            pipeline.collect(config, store, now=demo_site.now)
            return pipeline.stories(config, store, now=demo_site.now)

    with ThreadPoolExecutor(1) as worker:  # collect runs an event loop of its own
        report = worker.submit(plan).result()
    titles = [[a.title for a in s.articles] for s in report.plan.shown]
    bonds = next(t for t in titles if any(x.startswith("Companies Rush to Sell Bonds") for x in t))
    assert not any(x.startswith("Pension Funds Pour Billions") for x in bonds)
    # Three outlets tell the three top stories; none tells nearly every story.
    assert len({s.lead.source for s in report.plan.top}) == 3
    leads = Counter(s.lead.source for s in report.plan.shown)
    assert max(leads.values()) <= 0.75 * len(report.plan.shown)
    assert len(leads) == 3


def test_an_article_with_fewer_neighbours_than_counted_has_them_count_as_zero() -> None:
    # Article 0 has two neighbours, article 3 none; levels are means over NEIGHBOURS places.
    left, right = np.asarray([0, 0, 1]), np.asarray([1, 2, 2])
    top = stories.top_values(4, left, right, np.asarray([0.8, 0.4, 0.2]))
    levels = top[:, : stories.NEIGHBOURS].mean(axis=1)
    assert top[0].tolist()[:3] == [0.8, 0.4, 0.0]
    assert levels.tolist() == [pytest.approx(x / stories.NEIGHBOURS) for x in (1.2, 1.0, 0.6, 0.0)]


def test_the_stop_words_are_sumys_english_list() -> None:
    from sumy.utils import get_stop_words

    assert similarity._stop_words() == frozenset(get_stop_words("english"))


# Three monthly jobs reports: two outlets on February's, one on April's (one topic, two events).
FEBRUARY = stories.Text(
    "Employers added 235,000 jobs in February",
    "Employers added 235,000 jobs in February and the unemployment rate fell to 4.7 percent, "
    "the Labor Department said on Friday.",
    NOW,
    "Harbour Herald",
)
FEBRUARY_TOO = stories.Text(
    "US economy adds 235,000 jobs, unemployment 4.7%",
    "The U.S. economy added 235,000 jobs in February, and unemployment dipped to 4.7%, the "
    "government reported Friday.",
    NOW,
    "Valley Times",
)
APRIL = stories.Text(
    "Employers added 164,000 jobs in April",
    "Employers added 164,000 jobs in April and the unemployment rate fell to 3.9 percent, the "
    "Labor Department said on Thursday.",
    NOW,
    "Metro Wire",
)


def test_an_article_states_figures_weekdays_and_months_in_its_headline_and_lead() -> None:
    found = mates.facts(
        "May says 1,200 jobs go by March 2027",
        "The prime minister said on Monday that 1,200 posts, 3.5% of the staff, would go. "
        + "filler " * similarity.LEAD_WORDS
        + "A vote follows on Tuesday in June.",
    )
    assert found.numbers == {"1200", "3.5"}  # separators dropped, the year left out
    assert found.days == 1  # Monday, bit 0; Tuesday is past the lead
    assert found.months == 1 << 2  # March; "May" is not read as a month


def test_disagreeing_figures_and_dates_make_a_close_pair_two_events() -> None:
    # Equally close pairs with equally close neighbours: only what the texts state differs.
    top = np.asarray([[0.3, 0.15, 0.12, 0.1, 0.08]] * 3)
    levels = top[:, : stories.NEIGHBOURS].mean(axis=1)
    pairs = np.asarray([0, 0]), np.asarray([1, 2]), np.asarray([0.3, 0.3])
    features = mates.pair_features(
        [FEBRUARY, FEBRUARY_TOO, APRIL], [[0], [1], [2]], pairs, top, levels
    )
    one_event, two_events = mates.mate_probability(features).tolist()
    assert two_events < mates.MATE_MEAN <= one_event
    # They share two figures; April's shares none, nor the weekday, nor the month.
    assert features[:, -4:].tolist() == [[2, 0, 0, 0], [0, 1, 1, 1]]
