"""Fit digest.mates' MATE_WEIGHTS, MATE_BIAS and MATE_MEAN on tuning days only.

The days are drawn from half A of the events of ../shared/data/stories/dev.jsonl (the half
benchmarks/stories.py calls "tuned on"), with seeds 100-129 (the benchmark's days use 0-19) and
0, 60 or 180 single-source items each. Every linked pair of groups of near-copies that the
linkage put in one cluster is one example, labelled by whether its articles report one event;
logistic regression fits the weights and the bias. MATE_MEAN is then the value that gives the
best F1 of row (a') on the benchmark's half-A days among those that keep row (a) on them within
0.0025 of its F1 without the check.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/tune_stories.py
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import stories as bench

from digest import mates, stories

DAY = datetime(2021, 1, 1, 12, tzinfo=UTC)


def examples(batch: Sequence[bench.Record]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the batch's linked pairs of groups in one cluster."""
    texts = [stories.Text(r.title, r.text, DAY, r.outlet) for r in batch]
    found = stories.linked(texts, *stories.similar_pairs(texts))
    cluster = np.asarray([batch[m[0]].cluster for m in found.start])
    left, right = found.inside
    return found.features, cluster[left] == cluster[right]


def main() -> int:
    from sklearn.linear_model import LogisticRegression

    corpus = bench.load(bench.DATA)
    half_a, _ = bench.halves(sorted(corpus.clusters))
    days = [corpus.day(s, half_a, singles=k) for s in range(100, 130) for k in (0, 60, 180)]
    found = [examples(day) for day in days]
    x = np.concatenate([f for f, _ in found])
    y = np.concatenate([label for _, label in found])
    model = LogisticRegression(C=10, max_iter=10000).fit(x, y)
    weights = tuple(round(float(w), 3) for w in model.coef_[0])
    bias = round(float(model.intercept_[0]), 3)
    print(f"{len(y)} pairs, {y.mean():.3f} of them story-mates; weights {weights}, bias {bias}")
    checks = {
        singles: [corpus.day(s, half_a, singles=singles) for s in bench.SEEDS]
        for singles in (0, 180)
    }

    def f1s() -> tuple[float, float]:
        a, mixed = (bench.evaluate(bench.digest_grouper, checks[k], False)[2] for k in (0, 180))
        return a, mixed

    mates.MATE_WEIGHTS, mates.MATE_BIAS, mates.MATE_MEAN = weights, bias, 0.0
    without = f1s()
    print(f"  without the check: (a) {without[0]:.3f}  (a') +180 {without[1]:.3f}")
    results = []
    for mean in np.arange(0.1, 0.51, 0.025):
        mates.MATE_MEAN = round(float(mean), 3)
        a, mixed = f1s()
        print(f"  mean {mates.MATE_MEAN:5.3f}: (a) {a:.3f}  (a') +180 {mixed:.3f}")
        if a >= without[0] - 0.0025:
            results.append((mixed, mates.MATE_MEAN))
    best = max(results)[1] if results else None
    print(f"MATE_WEIGHTS = {weights}\nMATE_BIAS = {bias}\nMATE_MEAN = {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
