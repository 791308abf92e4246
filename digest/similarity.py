"""Which pairs of texts are alike: TF-IDF vectors of a batch and their sparse cosines.

Each text becomes a TF-IDF vector of its headline (weighted up) and the first words of its
text, with document frequencies taken from the batch itself: a name that only three articles
of the day mention says more than "president". Similarities come from a sparse product
computed with numpy, so only pairs that share a rare word are ever looked at (nothing is
quadratic in the batch), and fade with time: articles published days apart are not one story.

Every step works on whole arrays, so the time grows with the batch: the words are read with
one regular expression per text and each distinct token stemmed once; the common words' share
of a pair's similarity is looked up in a dense block of rows at a time. Sorts are stable radix
sorts (``radix_lexsort``), so sums per pair or per word add up in the order they were found:
the same bits, however they are computed.

The constants were tuned with digest.stories' (see there); digest.stories groups the pairs.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from itertools import count, pairwise
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

LEAD_WORDS = 100
"""How much of an article's text counts: its lead, where every outlet states the facts."""
TITLE_WEIGHT = 1.5
"""A headline word counts this many times a lead word."""
SAME_TIME = timedelta(hours=48)
"""Articles this close in time compare at full similarity ..."""
APART = timedelta(hours=96)
"""... fading linearly to nothing this far apart."""
RARE = 20
"""Pairs are looked at only when they share a word found in at most this many articles (or
1 % of the batch when that is more): articles about one event share a name or a number."""
RARE_MAX = 32
"""... but never more than this: a word in more articles proposes no pairs (it cannot tell one
event from another in a big batch), so the pairs looked at grow linearly with the batch."""
HEADS = 32
"""A common word still proposes the pairs of the rows it weighs most in, this many."""
BLOCK = 250_000
"""Cells of the dense block the common terms are looked up in (bounds the join's memory) ..."""
JOIN = 20_000
"""... and pairs that look their common terms up at once (bounds it too)."""

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

_TOKEN = re.compile(r"\w++(?:['’]\w++)*+")  # possessive: nothing to backtrack into


class Document(Protocol):
    """What is read of a text (digest.stories.Text is one)."""

    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def published(self) -> datetime: ...


# --- vectors --------------------------------------------------------------------------------


@cache
def _stop_words() -> frozenset[str]:
    # sumy's English list, read as get_stop_words("english") reads it, without importing
    # sumy.utils (it imports requests, a tenth of a second) or its look-up of the language's
    # name in pycountry's ISO 639 table (30 ms to load, once per process).
    text = resources.files("sumy").joinpath("data/stopwords/english.txt").read_text("utf-8")
    return frozenset(w.rstrip() for w in text.splitlines() if w)


def terms(title: str, text: str) -> dict[str, float]:
    """The weighted words of a headline and the lead of its text."""
    counts = {word: TITLE_WEIGHT * n for word, n in Counter(words(title)).items()}
    for word, n in Counter(words(lead(text))).items():
        counts[word] = counts.get(word, 0.0) + n
    return counts


def lead(text: str) -> str:
    """The text's first LEAD_WORDS words (the text itself when no longer: same tokens)."""
    words = text.split(maxsplit=LEAD_WORDS)
    return text if len(words) <= LEAD_WORDS else " ".join(words[:LEAD_WORDS])


def words(text: str) -> list[str]:
    return [w for w in map(_word, _TOKEN.findall(text.lower())) if w]


@lru_cache(maxsize=200_000)
def _word(token: str) -> str:
    """The token as a term: a light stem (possessives, plurals, so names stay recognizable);
    empty for stop words and single characters."""
    word = token[:-2] if token.endswith(("'s", "’s")) else token
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return "" if len(word) < 2 or word in _stop_words() or token in _stop_words() else word


@dataclass(frozen=True)
class Vectors:
    """Unit-length TF-IDF rows, stored as (row, term, weight) triples sorted by term."""

    rows: Ints
    terms: Ints
    weights: Floats


def vectors(texts: Sequence[Document]) -> Vectors:
    """The texts' TF-IDF rows: the same weighted words as ``terms``, counted for all at once."""
    rows, term_ids, counts, size = _counts(texts)
    df = np.bincount(term_ids, minlength=size)
    # ln(1 + N/df): the rarer in the batch the heavier, and never zero, even in a batch of two.
    idf = np.log1p(len(texts) / np.maximum(df, 1))
    weights = (1.0 + np.log(counts)) * idf[term_ids]
    norms = np.sqrt(np.bincount(rows, weights=weights**2, minlength=len(texts)))
    weights = weights / np.maximum(norms[rows], 1e-12)
    order = radix_lexsort(term_ids)
    return Vectors(rows[order], term_ids[order], weights[order])


def _counts(texts: Sequence[Document]) -> tuple[Ints, Ints, Floats, int]:
    """(row, term, weighted count) per distinct word of each text, in the order ``terms`` gives
    them; terms numbered by first appearance in the batch. Each distinct token is stemmed once."""
    # Each token as the number of its first appearance (a new token takes the next number).
    index: defaultdict[str, int] = defaultdict(count().__next__)
    codes = array("q")
    sizes: list[int] = []
    code, extend, tokens = index.__getitem__, codes.extend, _TOKEN.findall
    for t in texts:
        for part in (t.title, lead(t.text)):
            before = len(codes)
            extend(map(code, tokens(part.lower())))
            sizes.append(len(codes) - before)
    numbers: dict[str, int] = {}
    word_of = [numbers.setdefault(w, len(numbers)) if w else -1 for w in map(_word, index)]
    term_ids = np.asarray(word_of, dtype=np.int64)[np.frombuffer(codes, dtype=np.int64)]
    rows = np.repeat(np.arange(len(sizes)) // 2, sizes)
    weight = np.repeat(np.tile([TITLE_WEIGHT, 1.0], len(texts)), sizes)
    kept = term_ids >= 0
    rows, term_ids, weight = rows[kept], term_ids[kept], weight[kept]
    order = radix_lexsort(term_ids, rows)  # stable: each word's counts add up in text order
    first = _starts(rows[order], term_ids[order])
    number = np.cumsum(first) - 1
    counts = np.bincount(number, weights=weight[order]).astype(np.float64)
    numbered = np.empty(len(order), dtype=np.int64)
    numbered[order] = number
    seen = np.zeros(len(order), dtype=np.bool_)  # a word's first appearance in a text
    seen[order[first]] = True
    return rows[seen], term_ids[seen], counts[numbered[seen]], max(len(numbers), 1)


# --- similarities ----------------------------------------------------------------------------


def similar_pairs(
    texts: Sequence[Document],
) -> tuple[Ints, Ints, Floats]:
    """Every pair (i < j) that shares a word, with its cosine similarity faded by time."""
    v = vectors(texts)
    left, right, sims = _cosines(v, len(texts))
    hours = np.asarray([t.published.timestamp() / 3600 for t in texts])
    sims = sims * _time_fade(np.abs(hours[left] - hours[right]))
    keep = sims > 0
    return left[keep], right[keep], sims[keep]


def _cosines(v: Vectors, n: int) -> tuple[Ints, Ints, Floats]:
    """Cosine similarities of the pairs of rows that share a rare term, above the diagonal.

    Pairs are found through rare terms only (those in at most ``_rare_limit(n)`` rows), so
    the work grows with the batch, not with its square; the common terms' share of those
    pairs' similarity is added afterwards from a small dense matrix.
    """
    starts = np.flatnonzero(np.r_[True, v.terms[1:] != v.terms[:-1]])
    sizes = np.diff(np.r_[starts, len(v.terms)])
    common = np.repeat(sizes > _rare_limit(n), sizes)
    # A common term still proposes the pairs of the few rows it weighs most in (a headline
    # word of a big story); their share of the similarity comes with the common part.
    # Weights are positive, so their bits as integers sort as they do.
    heaviest_first = np.iinfo(np.int64).max - v.weights.view(np.int64)
    order = radix_lexsort(heaviest_first, v.terms)  # as np.lexsort((-weights, terms))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, sizes)
    proposes = ~common | (rank < HEADS)
    weights = np.where(common, 0.0, v.weights)[proposes]
    left, right, sims = _term_pairs(v.rows[proposes], v.terms[proposes], weights)
    return left, right, sims + _common_part(v, common, left, right)


def radix_lexsort(*keys: Ints) -> Ints:
    """np.lexsort(keys) (the last key primary) for keys of at least 0: numpy sorts 16-bit
    integers stably by radix, so each key is sorted on by 16 bits at a time, lowest first."""
    order: Ints | None = None
    for key in keys:
        for shift in range(0, int(key.max(initial=0)).bit_length(), 16):
            digit = (key if order is None else key[order]) >> shift
            step = np.argsort(digit.astype(np.uint16), kind="stable")  # by the low 16 bits
            order = step if order is None else order[step]
    return np.arange(len(keys[0])) if order is None else order


def _rare_limit(n: int) -> int:
    return min(max(RARE, n // 100), RARE_MAX)


def _term_pairs(rows: Ints, term_ids: Ints, weights: Floats) -> tuple[Ints, Ints, Floats]:
    """The sparse product of the rows with themselves, above the diagonal (postings by term)."""
    starts = np.flatnonzero(np.r_[True, term_ids[1:] != term_ids[:-1]])
    sizes = np.diff(np.r_[starts, len(term_ids)])
    position = np.arange(len(term_ids)) - np.repeat(starts, sizes)
    after = np.repeat(sizes, sizes) - position - 1  # postings of the same term after this one
    first = np.repeat(np.arange(len(term_ids)), after)
    offset = np.arange(len(first)) - np.repeat(np.cumsum(after) - after, after)
    second = first + 1 + offset
    return sum_by_pair(rows[first], rows[second], weights[first] * weights[second])


def _common_part(
    v: Vectors,
    common: NDArray[np.bool_],
    left: Ints,
    right: Ints,
) -> Floats:
    """The common terms' share of the given pairs' similarities.

    Each pair meets the common terms of its row that has fewer in the other row's, looked up
    in a dense block of rows × common terms: a block of the looked-up rows at a time, so memory
    stays bounded however big the batch.
    """
    if not common.any() or not len(left):
        return np.zeros(len(left))
    n = int(v.rows.max()) + 1
    _, dense_terms = np.unique(v.terms[common], return_inverse=True)
    by_row = radix_lexsort(v.rows[common])  # each row's terms stay in term order
    rows = v.rows[common][by_row]
    starts = np.searchsorted(rows, np.arange(n + 1))
    counts = np.diff(starts)
    fewer = counts[left] <= counts[right]
    one, other = np.where(fewer, left, right), np.where(fewer, right, left)
    size = int(dense_terms.max()) + 1
    entries = (rows, dense_terms[by_row], v.weights[common][by_row])
    block = _Block(max(1, BLOCK // size), size, starts, entries)
    numbers = other // block.rows
    order = radix_lexsort(numbers)
    one, other = one[order], other[order]
    bounds = np.searchsorted(numbers[order], np.arange(numbers.max() + 2))
    parts = []
    for number, (a, b) in enumerate(pairwise(bounds.tolist())):
        if b > a:
            with block.filled(number):
                for i, j in pairwise([*range(a, b, JOIN), b]):
                    parts.append(block.join(one[i:j], other[i:j]))
    found = np.empty(len(left))
    found[order] = np.concatenate(parts)
    return found


class _Block:
    """The common terms' entries, sorted by row and term, and a dense block of ``rows`` rows ×
    ``size`` terms that holds one block of rows' weights while pairs look them up."""

    def __init__(self, rows: int, size: int, starts: Ints, entries: tuple[Ints, Ints, Floats]):
        self.rows, self.size = rows, size
        self.starts = starts
        """Where each row's entries start, then where the last ends."""
        self.row_of, self.terms, self.weights = entries
        self.cells = np.zeros(rows * size)
        self.first = 0

    @contextmanager
    def filled(self, number: int) -> Iterator[None]:
        """The block holding the weights of block ``number`` of rows meanwhile."""
        self.first = number * self.rows
        end = min(self.first + self.rows, len(self.starts) - 1)
        entries = slice(self.starts[self.first], self.starts[end])
        cells = (self.row_of[entries] - self.first) * self.size + self.terms[entries]
        self.cells[cells] = self.weights[entries]
        try:
            yield
        finally:
            self.cells[cells] = 0.0

    def join(self, one: Ints, other: Ints) -> Floats:
        """Per pair, the sum of products of the weights of the terms both rows have; the
        ``other`` rows are in the block filled."""
        count = self.starts[one + 1] - self.starts[one]
        shift = np.repeat(self.starts[one] - (np.cumsum(count) - count), count)
        position = np.arange(len(shift)) + shift
        cell = np.repeat((other - self.first) * self.size, count) + self.terms[position]
        products = self.weights[position] * self.cells[cell]
        pair = np.repeat(np.arange(len(one)), count)
        return np.bincount(pair, weights=products, minlength=len(one)).astype(np.float64)


def _time_fade(hours: Floats) -> Floats:
    full, none = SAME_TIME.total_seconds() / 3600, APART.total_seconds() / 3600
    return np.clip((none - hours) / (none - full), 0.0, 1.0)


def sum_by_pair(a: Ints, b: Ints, values: Floats) -> tuple[Ints, Ints, Floats]:
    """The values summed per unordered pair {a, b} (in their order), as (low, high, sum)
    sorted by pair."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    order = radix_lexsort(high, low)  # stable: each pair's values stay in their order
    low, high = low[order], high[order]
    first = _starts(low, high)
    number = np.cumsum(first) - 1
    sums = np.bincount(number, weights=values[order])
    return low[first], high[first], sums.astype(np.float64)


def _starts(*sorted_keys: Ints) -> NDArray[np.bool_]:
    """Where a new combination of the keys (sorted together) starts."""
    first = np.zeros(len(sorted_keys[0]), dtype=np.bool_)
    first[:1] = True
    for key in sorted_keys:
        first[1:] |= key[1:] != key[:-1]
    return first
