"""Which grouped articles have a story-mate: the check after digest.stories' linkage.

The linkage groups articles by how much more alike they are than each one's background, so
an article that no other outlet covered still joins its closest neighbour when that one is
about the same topic (two reports on one justice's health, two monthly jobs reports). This
check sends such an article back to stand alone. Each pair of groups of near-copies in one
cluster gets a story-mate probability: a logistic score of how clearly the pair stands out
from each one's neighbours, and of what its texts state that the other's contradicts or
lacks (figures, weekdays, months); a group stays only when its mean probability
with the cluster's other groups is at least MATE_MEAN.

The constants were fitted on days drawn from half A of the events of
../shared/data/stories/dev.jsonl (benchmarks/tune_stories.py); benchmarks/stories.py reports
half B too. Those days put every article at one moment, so the weekdays and months named in
the texts stand in for the publication dates that digest.similarity fades with: most of the
gain there comes from them. In a real day's batch, different events mostly name the same
weekdays, and the disagreement seldom fires.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from digest.similarity import Document, Floats, Ints, lead

MATE_WEIGHTS = (0.804, 1.846, -3.029, 16.35, 7.247, -3.222, 0.638, -0.385, -1.782, -2.594)
"""The weights of a pair's features (``pair_features``) in its story-mate score."""
MATE_BIAS = 1.726
"""The score's constant; the probability is the logistic function of the score."""
MATE_MEAN = 0.225
"""A group stays in its cluster only when its mean story-mate probability with the cluster's
other groups (0 for a group it has no link with) is at least this."""
TEXT_CHARS = 20_000
"""How much of a text is read for its facts (bounds the work on an untrusted feed)."""

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_YEAR = re.compile(r"(?:19|20)\d\d")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    *("January", "February", "March", "April", "June"),
    *("July", "August", "September", "October", "November", "December"),
)  # not May: a name too, and a verb that starts sentences


@dataclass(frozen=True)
class Facts:
    """What an article's headline and lead state that another report of its event would too."""

    numbers: frozenset[str]
    """Its figures (digits, without separators), years left out."""
    days: int
    """The weekdays it names, one bit each."""
    months: int
    """The months it names, one bit each."""


def facts(title: str, text: str) -> Facts:
    """The facts of an article's headline and lead (the first words of its text)."""
    head = f"{title[:TEXT_CHARS]}\n{lead(text[:TEXT_CHARS])}"
    return Facts(_figures(head), _named(head, _DAYS), _named(head, _MONTHS))


def _named(text: str, names: Sequence[str]) -> int:
    """Which of the names the text holds, one bit each (a substring search: faster than words)."""
    return sum(1 << bit for bit, name in enumerate(names) if name in text)


def _figures(text: str) -> frozenset[str]:
    found = (n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text))
    return frozenset(n for n in found if not _YEAR.fullmatch(n))


def inside(
    clusters: Sequence[list[int]], group_of: Sequence[int], left: Ints, right: Ints
) -> NDArray[np.bool_]:
    """Which linked pairs of groups of near-copies (``group_of``: per article) are in one cluster."""
    labels = np.asarray(group_of, dtype=np.int64)
    cluster_of = np.empty(int(labels.max()) + 1, dtype=np.int64)
    for number, articles in enumerate(clusters):
        cluster_of[labels[articles]] = number
    found: NDArray[np.bool_] = cluster_of[left] == cluster_of[right]
    return found


def pair_features(
    texts: Sequence[Document],
    start: Sequence[list[int]],
    pairs: tuple[Ints, Ints, Floats],
    top: Floats,
    levels: Floats,
) -> Floats:
    """Per pair of groups of near-copies (``start``: their members; ``pairs``: the left and
    right groups and their mean similarity; ``top``: each group's greatest similarities, best
    first; ``levels``: each one's closeness level), the features MATE_WEIGHTS weigh: how clearly
    the pair stands out from each one's neighbours, and what the texts (each group's first
    article) disagree on."""
    left, right, sims = pairs
    facts_of = {
        g: facts(texts[start[g][0]].title, texts[start[g][0]].text)
        for g in np.unique(np.r_[left, right]).tolist()
    }
    return np.concatenate(
        [_standing_out(left, right, sims, top, levels), _disagreements(left, right, facts_of)],
        axis=1,
    )


def _standing_out(left: Ints, right: Ints, sims: Floats, top: Floats, levels: Floats) -> Floats:
    """The pair's similarity; that less the two groups' mean level, less the greater of their
    2nd, 3rd and 5th best similarities; and over the greater of their best. Reports of one
    event stand out from each one's background; an article that no other outlet covered has
    only topical neighbours, all about as close."""

    def greater(column: int) -> Floats:
        found: Floats = np.maximum(top[left, column], top[right, column])
        return found

    features = (
        sims,
        sims - (levels[left] + levels[right]) / 2,
        sims - greater(1),
        sims - greater(2),
        sims - greater(4),
        sims / np.maximum(greater(0), 1e-12),
    )
    stacked: Floats = np.stack(features, axis=1)
    return stacked


def _disagreements(left: Ints, right: Ints, facts_of: Mapping[int, Facts]) -> Floats:
    """Per pair: the figures they share (at most 3); whether both state figures and share
    none; whether both name weekdays and none is the same; and so for months. Two reports of
    one event share its figures and its day."""
    rows = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        a, b = facts_of[i], facts_of[j]
        rows.append(
            (
                min(len(a.numbers & b.numbers), 3),
                bool(a.numbers and b.numbers) and a.numbers.isdisjoint(b.numbers),
                bool(a.days and b.days and not a.days & b.days),
                bool(a.months and b.months and not a.months & b.months),
            )
        )
    found: Floats = np.asarray(rows, dtype=np.float64).reshape(len(rows), 4)
    return found


def mate_probability(features: Floats) -> Floats:
    """Per pair (its ``pair_features``), the probability that it reports one event."""
    found: Floats = 1 / (1 + np.exp(-(features @ np.asarray(MATE_WEIGHTS) + MATE_BIAS)))
    return found


def without_strays(
    clusters: list[list[int]],
    group_of: Sequence[int],
    left: Ints,
    right: Ints,
    features: Floats,
) -> list[list[int]]:
    """The clusters less their strays: each group of near-copies (``group_of``: per article)
    whose mean story-mate probability with the cluster's other groups is below MATE_MEAN
    leaves it and stands alone (a cluster left with one group breaks up whole). ``left`` and
    ``right`` are the linked pairs of groups inside the clusters, ``features`` theirs."""
    probability = mate_probability(features)
    labels = np.asarray(group_of, dtype=np.int64)
    others = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    for articles in clusters:
        mine = np.unique(labels[articles])
        others[mine] = len(mine) - 1
    total = np.bincount(np.r_[left, right], np.r_[probability, probability], len(others))
    stays = (others == 0) | (total >= MATE_MEAN * others)
    result: list[list[int]] = []
    for articles in clusters:
        if stays[labels[articles]].all():
            result.append(articles)
            continue
        groups: dict[int, list[int]] = {}
        for article in articles:
            groups.setdefault(int(labels[article]), []).append(article)
        kept = [g for g in groups if stays[g]]
        if len(kept) > 1:
            result.append([a for g in kept for a in groups[g]])
        result += [groups[g] for g in groups if len(kept) <= 1 or not stays[g]]
    return result
