"""Which articles report the same event: the grouping behind the edition's stories.

Articles are compared by the TF-IDF cosines of their headlines and leads, faded with time
(digest.similarity), only the pairs that share a rare word.

Outlets frame one event in different words, so a fixed similarity bar either splits
their reports or merges different stories about the same people. Each pair is therefore
also judged against how similar its two articles are to their nearest neighbours (the
"local scaling" used to match words across languages): a pair is close when it is about
as similar as each article's best matches. Groups then form by average linkage on that
sparse graph, driven by a heap (the first scores computed at once, then only a merged
group's). Three rules keep this from merging too much: near-copies
(a wire story several outlets run, an update) join first and count as one neighbour; a
group's mean similarity must also pass an absolute floor, since an article that no other
outlet covered still has a best match; and one source's articles join only when nearly
alike, as an outlet seldom writes twice about one event except to update.

The constants below were tuned on simulated days drawn from half of the events of
../shared/data/stories/dev.jsonl; benchmarks/stories.py reports the other half too.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import overload

import numpy as np
from numpy.typing import NDArray

from digest import mates
from digest.similarity import (
    Floats,
    Ints,
    radix_lexsort,
    similar_pairs,
    sum_by_pair,
    terms,
    words,
)

NEIGHBOURS = 4
"""An article's closeness level is its mean similarity to this many nearest articles."""
SAME_SOURCE = 0.3
"""Two articles of one source join only when at least this similar (an update, a follow-up)."""
LEVEL_CAP = 0.4
"""Closeness levels above this count as this."""
MERGE_MARGIN = -0.03
"""Two groups merge when their mean similarity minus their mean level is at least this ..."""
MIN_SIMILARITY = 0.1
"""... and their mean similarity at least this, whatever the levels: an article with no
story-mate in the batch has low levels, and must not join its merely topical neighbour."""
HEADLINES_APART = 0.15
"""Two articles whose headlines share no word (an outlet names the event in its headline) join
as a story only when at least this similar: sharing only a topic's words is not one event."""
EDGE_FLOOR = 0.05
"""Weaker similarities count as none: they cannot lift a group's mean much."""
COPY = 0.7
"""Articles at least this similar are near-copies: they join before anything else."""


@dataclass(frozen=True)
class Text:
    """What the grouping reads of an article."""

    title: str
    text: str
    published: datetime
    source: str = ""
    """Who published it; empty when unknown (then it counts as a source of its own)."""


@dataclass(frozen=True)
class Link:
    """An article's strongest tie to another."""

    other: int
    """Index of the other article; -1 for none."""
    similarity: float


@dataclass(frozen=True)
class Grouping:
    groups: tuple[tuple[int, ...], ...]
    """Indices into the input, each group in input order; groups ordered by first member."""
    links: tuple[Link, ...]
    """Per input article: its closest article in its own group."""
    nearest: tuple[Link, ...]
    """Per input article: its closest article of all (for saying why it stands alone)."""


def group_texts(texts: Sequence[Text]) -> Grouping:
    """Group texts that report the same event."""
    n = len(texts)
    if n == 0:
        return Grouping((), (), ())
    found = linked(texts, *similar_pairs(texts))
    clusters = mates.without_strays(found.clusters, found.copies, *found.inside, found.features)
    groups = tuple(sorted((tuple(sorted(c)) for c in clusters), key=lambda g: g[0]))
    links, nearest = _links(n, groups, *found.pairs)
    return Grouping(groups, links, nearest)


@dataclass(frozen=True)
class Linked:
    """The grouping before its story-mate check (what benchmarks/tune_stories.py fits it on)."""

    pairs: tuple[Ints, Ints, Floats]
    """The pairs of articles the linkage weighs, and their similarities."""
    copies: list[int]
    """Per article, its group of near-copies."""
    start: list[list[int]]
    """Each group of near-copies' members."""
    clusters: list[list[int]]
    """The linkage's clusters of articles."""
    inside: tuple[Ints, Ints]
    """The linked pairs of groups of near-copies inside one cluster ..."""
    features: Floats
    """... and their story-mate features (digest.mates.pair_features)."""


def linked(texts: Sequence[Text], left: Ints, right: Ints, sims: Floats) -> Linked:
    """The linkage of ``texts`` over their similar pairs (``similar_pairs``: the articles of
    each pair, its similarity), before the story-mate check."""
    keep = (sims >= EDGE_FLOOR) & ~_same_source_unalike(texts, left, right, sims)
    left, right, sims = left[keep], right[keep], sims[keep]
    copies, start, group_left, group_right, sums = copy_groups(len(texts), left, right, sims)
    sizes = np.asarray([len(members) for members in start], dtype=np.float64)
    means = sums / (sizes[group_left] * sizes[group_right])
    top = top_values(len(start), group_left, group_right, means)
    levels = top[:, :NEIGHBOURS].mean(axis=1)
    clusters = _average_linkage(
        start,
        group_left,
        group_right,
        sums,
        np.minimum(levels, LEVEL_CAP),
        [t.title for t in texts],
    )
    inside = mates.inside(clusters, copies, group_left, group_right)
    pairs = group_left[inside], group_right[inside], means[inside]
    features = mates.pair_features(texts, start, pairs, top, levels)
    return Linked((left, right, sims), copies, start, clusters, pairs[:2], features)


def copy_groups(
    n: int, left: Ints, right: Ints, sims: Floats
) -> tuple[list[int], list[list[int]], Ints, Ints, Floats]:
    """Near-copies (a wire story run by several outlets, a source's own update) start as one
    group and count as one neighbour, so a story's copies do not raise its closeness level.

    Per article its group; the groups' members; the linked pairs of groups and the sum of
    the similarities between their members.
    """
    copies = _near_copies(n, left, right, sims)
    return (copies, *_between(copies, left, right, sims))


def _same_source_unalike(
    texts: Sequence[Text], left: Ints, right: Ints, sims: Floats
) -> NDArray[np.bool_]:
    """Pairs from one source that are less than SAME_SOURCE similar.

    An outlet rarely writes two articles about one event, except to update one; two of its
    articles on one topic are more often two events (a rate cut here, a rate hold there).
    """
    names: dict[str, int] = {}
    codes = np.asarray(
        [
            names.setdefault(t.source, len(names)) if t.source else -1 - i
            for i, t in enumerate(texts)
        ],
        dtype=np.int64,
    )
    same: NDArray[np.bool_] = (codes[left] == codes[right]) & (sims < SAME_SOURCE)
    return same


def _near_copies(n: int, left: Ints, right: Ints, sims: Floats) -> list[int]:
    """Per article, the index of its group of near-copies (connected at COPY similarity),
    groups numbered in order of their first article."""
    close = sims >= COPY
    low = _components(n, left[close], right[close])
    _, numbers = np.unique(low, return_inverse=True)
    found: list[int] = numbers.tolist()
    return found


def _components(n: int, left: Ints, right: Ints) -> Ints:
    """Per node, the lowest node connected to it by the edges (left, right)."""
    low = np.arange(n)
    while True:
        # Each edge pulls both its ends' labels down to the lower one, then labels jump to
        # their label's label until they settle.
        pulled = low.copy()
        np.minimum.at(pulled, low[left], low[right])
        np.minimum.at(pulled, low[right], low[left])
        while not np.array_equal(pulled, pulled[pulled]):
            pulled = pulled[pulled]
        if np.array_equal(pulled, low):
            return low
        low = pulled


def _between(
    group_of: list[int],
    left: Ints,
    right: Ints,
    sims: Floats,
) -> tuple[list[list[int]], Ints, Ints, Floats]:
    """The groups' members, and the sum of similarities between each pair of linked groups."""
    members: list[list[int]] = [[] for _ in range(max(group_of) + 1)]
    for article, group in enumerate(group_of):
        members[group].append(article)
    labels = np.asarray(group_of, dtype=np.int64)
    a, b = labels[left], labels[right]
    apart = a != b
    return (members, *sum_by_pair(a[apart], b[apart], sims[apart]))


def top_values(n: int, left: Ints, right: Ints, sims: Floats) -> Floats:
    """Per row, its greatest similarities, best first (n × max(NEIGHBOURS, 5)); missing: 0."""
    rows = np.r_[left, right]
    values = np.r_[sims, sims]
    top = np.zeros((n, max(NEIGHBOURS, 5)))
    for column in range(top.shape[1]):
        first = _first_top(n, rows, values)
        found = first[first >= 0]
        top[rows[found], column] = values[found]
        values[found] = -np.inf
    return top


# --- average linkage on the sparse graph -----------------------------------------------------


def _average_linkage(
    start: list[list[int]],
    left: Ints,
    right: Ints,
    sums: Floats,
    levels: Floats,
    titles: Sequence[str],
) -> list[list[int]]:
    """Merge the closest pair of groups while it is close enough; pairs without a link count 0.

    The pairs of the first groups are scored at once (numpy); after that, only a merged group's.
    """
    members = dict(enumerate(start))
    sizes = np.asarray([len(m) for m in start], dtype=np.float64)
    level_sums = levels * sizes
    level_sum = dict(enumerate(level_sums.tolist()))
    # links[a][b]: the sum of similarities between the members of groups a and b (where b
    # has merged into another group since, a stale entry: see _merge).
    links = _adjacency(len(start), left, right, sums)
    alive = np.ones(len(start), dtype=np.bool_)
    headlines: dict[int, frozenset[str]] = {}

    def unlike(i: int, j: int) -> bool:
        """Whether articles i and j's headlines share no word."""
        for k in (i, j):
            if k not in headlines:
                headlines[k] = frozenset(words(titles[k]))
        return not headlines[i] & headlines[j]

    def closeness(a: int, b: int) -> float | None:
        one, other = members[a], members[b]
        apart = len(one) == len(other) == 1 and unlike(one[0], other[0])
        floor = HEADLINES_APART if apart else MIN_SIMILARITY
        return _closeness(links[a][b], one, other, level_sum[a], level_sum[b], floor)

    def push(a: int) -> None:
        """Push the scores of merged group a's pairs (it is no single article: no headline rule)."""
        others = np.fromiter(links[a], np.int64, len(links[a]))
        totals = np.fromiter(links[a].values(), np.float64, len(links[a]))
        others, totals = others[alive[others]], totals[alive[others]]
        mean, margin = _mean_margin(
            totals, sizes[a], sizes[others], level_sums[a], level_sums[others]
        )
        passes = (mean >= MIN_SIMILARITY) & (margin >= MERGE_MARGIN)
        for score, other in zip((-margin[passes]).tolist(), others[passes].tolist(), strict=True):
            heapq.heappush(heap, (score, min(a, other), max(a, other)))

    heap = _first_scores(
        left, right, sums, sizes, level_sums, lambda a, b: unlike(start[a][0], start[b][0])
    )
    heapq.heapify(heap)
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # one of them has merged since
        current = closeness(a, b)
        if current is None or current != -negative:
            continue  # a stale entry; the fresh one is in the heap too
        _merge(a, b, members, level_sum, links)
        alive[b] = False
        sizes[a], level_sums[a] = len(members[a]), level_sum[a]
        push(a)
    return list(members.values())


def _adjacency(n: int, left: Ints, right: Ints, sums: Floats) -> dict[int, dict[int, float]]:
    """Per group, its linked groups (in ascending order) and the sum of similarities to each."""
    rows, columns, values = np.r_[left, right], np.r_[right, left], np.r_[sums, sums]
    order = radix_lexsort(columns, rows)
    bounds = np.searchsorted(rows[order], np.arange(n + 1)).tolist()
    others, totals = columns[order].tolist(), values[order].tolist()
    return {
        g: dict(zip(others[a:b], totals[a:b], strict=True))
        for g, (a, b) in enumerate(pairwise(bounds))
    }


def _first_scores(
    left: Ints,
    right: Ints,
    sums: Floats,
    sizes: Floats,
    level_sums: Floats,
    unlike: Callable[[int, int], bool],
) -> list[tuple[float, int, int]]:
    """``_closeness`` of every linked pair of groups, as heap entries (-score, low, high); the
    pairs too far apart left out. ``unlike`` says whether two groups' headlines share no word,
    and is asked only of the pairs of single articles it decides."""
    mean, margin = _mean_margin(
        sums, sizes[left], sizes[right], level_sums[left], level_sums[right]
    )
    close = margin >= MERGE_MARGIN
    alike, apart = mean >= MIN_SIMILARITY, mean >= HEADLINES_APART
    singles = (sizes[left] == 1) & (sizes[right] == 1)
    passes = close & np.where(singles, alike & apart, alike)
    for i in np.flatnonzero(close & singles & (alike != apart)).tolist():
        passes[i] = apart[i] if unlike(int(left[i]), int(right[i])) else alike[i]
    return list(
        zip((-margin[passes]).tolist(), left[passes].tolist(), right[passes].tolist(), strict=True)
    )


def _closeness(
    total: float, a: list[int], b: list[int], level_a: float, level_b: float, floor: float
) -> float | None:
    """How much two groups' mean similarity exceeds their mean level; None when too far apart
    (below the floor, or below their levels)."""
    mean, margin = _mean_margin(total, len(a), len(b), level_a, level_b)
    if mean < floor or margin < MERGE_MARGIN:
        return None
    return margin


@overload
def _mean_margin(
    total: float, size_a: float, size_b: float, level_a: float, level_b: float
) -> tuple[float, float]: ...
@overload
def _mean_margin(
    total: Floats,
    size_a: float | Floats,
    size_b: float | Floats,
    level_a: float | Floats,
    level_b: float | Floats,
) -> tuple[Floats, Floats]: ...
def _mean_margin(
    total: float | Floats,
    size_a: float | Floats,
    size_b: float | Floats,
    level_a: float | Floats,
    level_b: float | Floats,
) -> tuple[float | Floats, float | Floats]:
    """Two groups' mean similarity (``total`` over their pairs), and how much it exceeds the
    mean of their closeness levels (``level_*``: level sums): for one pair of groups or, as
    arrays, for many. The one formula behind ``_closeness``, ``_first_scores`` and ``push``,
    whose scores must agree to the bit (a popped entry is checked against it)."""
    mean = total / (size_a * size_b)
    return mean, mean - (level_a / size_a + level_b / size_b) / 2


def _merge(
    a: int,
    b: int,
    members: dict[int, list[int]],
    level_sum: dict[int, float],
    links: dict[int, dict[int, float]],
) -> None:
    """Fold group b into group a. The other groups' links to b stay, stale: deleting each
    costs more than skipping them (b has no row in ``links`` any more)."""
    members[a].extend(members.pop(b))
    level_sum[a] += level_sum.pop(b)
    mine, theirs = links[a], links.pop(b)
    del mine[b], theirs[a]
    for other, total in theirs.items():
        row = links.get(other)
        if row is not None:  # not merged into another since
            row[a] = mine[other] = mine.get(other, 0.0) + total


def _links(
    n: int, groups: Sequence[tuple[int, ...]], left: Ints, right: Ints, sims: Floats
) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
    """Per article, its closest article in its group, and its closest article of all."""
    label = np.empty(n, dtype=np.int64)
    for number, members in enumerate(groups):
        label[list(members)] = number
    inside = label[left] == label[right]
    return _best(n, left[inside], right[inside], sims[inside]), _best(n, left, right, sims)


def _best(n: int, left: Ints, right: Ints, sims: Floats) -> tuple[Link, ...]:
    """Per article, the other article of its most similar pair (the first pair on ties)."""
    one, other, values = np.r_[left, right], np.r_[right, left], np.r_[sims, sims]
    first = _first_top(n, one, values)
    found = first >= 0
    others, best = np.full(n, -1), np.zeros(n)
    others[found], best[found] = other[first[found]], values[first[found]]
    return tuple(map(Link, others.tolist(), best.tolist()))


def _first_top(n: int, rows: Ints, values: Floats) -> Ints:
    """Per row, the index of its greatest value (the first of equals); -1 for a row with none
    (values of -inf count as none)."""
    top = np.full(n, -np.inf)
    np.maximum.at(top, rows, values)
    at_top = np.flatnonzero((values == top[rows]) & (values > -np.inf))
    first = np.full(n, len(rows), dtype=np.int64)
    np.minimum.at(first, rows[at_top], at_top)
    first[first == len(rows)] = -1
    return first


def shared_terms(one: Text, other: Text, *, limit: int = 5) -> list[str]:
    """The words two texts share, most telling first (for explanations)."""
    a, b = terms(one.title, one.text), terms(other.title, other.text)
    common = sorted(set(a) & set(b), key=lambda w: (-a[w] * b[w], -len(w), w))
    return common[:limit]
