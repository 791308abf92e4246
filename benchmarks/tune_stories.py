"""Fit digest.stories.MATE_WEIGHTS and MATE_BIAS: logistic regression on tuning days only.

The days are drawn from half A of the events of ../shared/data/stories/dev.jsonl (the half
benchmarks/stories.py calls "tuned on"), with seeds 100-129 (the benchmark's days use 0-19) and
0, 60 or 180 single-source items each. Every linked pair of groups of near-copies is one
example, labelled by whether its articles report one event. The bias is then raised (fewer
articles leave their groups) to the value that gives the best F1 of row (a') on the benchmark's
half-A days among those that keep row (a) on them within 0.0025 of its F1 without the rule.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/tune_stories.py
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import stories as bench

from digest import stories

DAY = datetime(2021, 1, 1, 12, tzinfo=UTC)


def examples(batch: Sequence[bench.Record]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the batch's linked pairs of groups of near-copies."""
    texts = [stories.Text(r.title, r.text, DAY, r.outlet) for r in batch]
    left, right, sims = stories.similar_pairs(texts)
    keep = (sims >= stories.EDGE_FLOOR) & ~stories._same_source_unalike(texts, left, right, sims)
    _, start, a, b, sums = stories.copy_groups(len(texts), left[keep], right[keep], sims[keep])
    sizes = np.asarray([len(m) for m in start], dtype=np.float64)
    means = sums / (sizes[a] * sizes[b])
    features = stories.mate_features(a, b, means, stories.top_values(len(start), a, b, means))
    cluster = np.asarray([batch[m[0]].cluster for m in start])
    return features, cluster[a] == cluster[b]


def main() -> int:
    from sklearn.linear_model import LogisticRegression

    corpus = bench.load(bench.DATA)
    half_a, _ = bench.halves(sorted(corpus.clusters))
    days = [corpus.day(s, half_a, singles=k) for s in range(100, 130) for k in (0, 60, 180)]
    found = [examples(day) for day in days]
    x = np.concatenate([f for f, _ in found])
    y = np.concatenate([label for _, label in found])
    model = LogisticRegression(C=10, max_iter=5000).fit(x, y)
    weights = tuple(round(float(w), 3) for w in model.coef_[0])
    bias = float(model.intercept_[0])
    print(f"{len(y)} pairs, {y.mean():.3f} of them story-mates; weights {weights}, bias {bias:.3f}")
    checks = {
        singles: [corpus.day(s, half_a, singles=singles) for s in bench.SEEDS]
        for singles in (0, 180)
    }

    def f1s() -> tuple[float, float]:
        a, mixed = (bench.evaluate(bench.digest_grouper, checks[k], False)[2] for k in (0, 180))
        return a, mixed

    stories.MATE_WEIGHTS, stories.MATE_BIAS = (0.0,) * len(weights), 0.0
    without = f1s()
    print(f"  without the rule: (a) {without[0]:.3f}  (a') +180 {without[1]:.3f}")
    stories.MATE_WEIGHTS = weights
    results = []
    for raise_by in np.arange(0.0, 3.01, 0.25):
        stories.MATE_BIAS = round(bias + raise_by, 3)
        a, mixed = f1s()
        print(f"  bias {stories.MATE_BIAS:7.3f}: (a) {a:.3f}  (a') +180 {mixed:.3f}")
        if a >= without[0] - 0.0025:
            results.append((mixed, stories.MATE_BIAS))
    print(f"MATE_WEIGHTS = {weights}\nMATE_BIAS = {max(results)[1] if results else None}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
