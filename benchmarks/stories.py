"""How well digest groups articles about one event, beside a tuned TF-IDF + agglomerative baseline.

Reads ../shared/data/stories/dev.jsonl (articles labelled by event; see its MANIFEST.md) and
prints pairwise precision, recall, F1 and the adjusted Rand index for

  (a) simulated days: all articles of 60 random events, random.Random(seed).sample(sorted
      cluster ids, 60), seeds 0-19, all published at one moment; also on days drawn from
      each half of the events (digest's constants and the baseline's threshold were tuned
      on days from half A only: half B is held out);
  (a') the same days with single-source items mixed in (one article of each of 60 or 180
      other events), which is what a real day looks like; also with 180, events and single
      items all drawn from half A, and all from half B;
  (b) a month: every dated article of one calendar month (the fullest, and the mean over
      all months), published at noon of its date; digest also without the dates;
  (c) the whole file (undated articles all at one moment);

and the time to group 5,000 articles: the 3,179 of the file plus 1,821 copies of randomly
chosen ones with 30 % of their words dropped, all published at one moment.

Scaling rows: 1,000 / 10,000 / 50,000 articles (a random 1,000 of the file; or the file plus
perturbed copies as above, each copy labelled with its original's event), each grouped once in
a subprocess of its own, which reports wall and CPU seconds, the peak resident memory
before and after grouping (VmHWM: ru_maxrss would carry the parent's peak across exec), and
the quality. The baseline runs beside them where its dense n × n distance matrix fits
(1,000 only: at 10,000 it needs 0.8 GB for the matrix alone).

The baseline is scikit-learn's TfidfVectorizer (English stop words, sublinear tf) on title
and text, and AgglomerativeClustering on cosine distance, with the linkage and the distance
threshold that give the best mean F1 on the half-A days (tuned in this run).

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/stories.py [DEV.JSONL]
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from digest import edition, similarity, stories
from digest.config import EditionConfig
from digest.models import Article

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "stories" / "dev.jsonl"
DAY = datetime(2021, 1, 1, 12, tzinfo=UTC)
UNDATED = datetime(2000, 1, 1, 12, tzinfo=UTC)
SEEDS = range(20)
THRESHOLDS = [round(0.70 + 0.02 * i, 2) for i in range(14)]


@dataclass(frozen=True)
class Record:
    id: str
    cluster: str
    title: str
    text: str
    date: str
    outlet: str


Grouper = Callable[[Sequence[Record], bool], list[int]]
"""Records, whether to use their dates -> a group label per record."""


# --- metrics ---------------------------------------------------------------------------------


def scores(truth: Sequence[str], labels: Sequence[int]) -> tuple[float, float, float, float]:
    """Pairwise precision, recall, F1 and adjusted Rand index."""

    def pairs(counts: Counter[object]) -> float:
        return sum(c * (c - 1) / 2 for c in counts.values())

    both = pairs(Counter(zip(truth, labels, strict=True)))
    true, found = pairs(Counter(truth)), pairs(Counter(labels))
    precision = both / found if found else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = len(truth) * (len(truth) - 1) / 2
    expected = true * found / total if total else 0.0
    best = (true + found) / 2
    ari = (both - expected) / (best - expected) if best != expected else 1.0
    return precision, recall, f1, ari


def mean_scores(results: Sequence[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(statistics.fmean(column) for column in zip(*results, strict=True))


# --- the groupers ----------------------------------------------------------------------------


def moment(record: Record, dated: bool) -> datetime:
    if not dated:
        return DAY
    if not record.date:
        return UNDATED
    return datetime.fromisoformat(record.date).replace(hour=12, tzinfo=UTC)


def digest_grouper(records: Sequence[Record], dated: bool) -> list[int]:
    texts = [stories.Text(r.title, r.text, moment(r, dated), r.outlet) for r in records]
    labels = [0] * len(records)
    for number, group in enumerate(stories.group_texts(texts).groups):
        for i in group:
            labels[i] = number
    return labels


def edition_grouper(records: Sequence[Record], dated: bool) -> list[int]:
    """The whole edition path: Articles -> ranked stories -> a plan."""
    articles = [
        Article(
            r.id, r.outlet, "News", f"https://example.com/{r.id}", r.title, r.text, moment(r, dated)
        )
        for r in records
    ]
    found = edition.group_stories(articles, now=DAY, settings=EditionConfig())
    edition.plan_edition(found, EditionConfig())
    number = {a.id: n for n, story in enumerate(found) for a in story.articles}
    return [number[r.id] for r in records]


def baseline(linkage: str, threshold: float) -> Grouper:
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    def group(records: Sequence[Record], dated: bool) -> list[int]:
        if len(records) < 2:
            return [0] * len(records)
        vectors = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(
            [f"{r.title}\n{r.text}" for r in records]
        )
        model = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage=linkage, distance_threshold=threshold
        )
        return [int(x) for x in model.fit_predict(vectors.toarray())]

    return group


# --- the batches -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    records: list[Record]
    clusters: dict[str, list[Record]]

    def day(self, seed: int, pool: Sequence[str], *, singles: int = 0) -> list[Record]:
        """All articles of 60 random events, plus one article of each of ``singles`` others."""
        rng = random.Random(seed)
        chosen = rng.sample(sorted(pool), 60)
        batch = [r for c in chosen for r in self.clusters[c]]
        if singles:
            rest = rng.sample(sorted(set(pool) - set(chosen)), singles)
            batch += [rng.choice(self.clusters[c]) for c in rest]
        return batch

    def months(self) -> dict[str, list[Record]]:
        found: dict[str, list[Record]] = defaultdict(list)
        for r in self.records:
            if r.date:
                found[r.date[:7]].append(r)
        return dict(found)


def load(data: Path) -> Corpus:
    fields = ("id", "cluster", "title", "text", "date", "outlet")
    lines = data.open(encoding="utf-8")
    records = [Record(*(json.loads(line)[f] for f in fields)) for line in lines]
    clusters: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        clusters[r.cluster].append(r)
    return Corpus(records, dict(clusters))


def halves(clusters: Sequence[str]) -> tuple[list[str], list[str]]:
    """Half A (tuning) and half B (held out), by a hash of the cluster id."""
    a = [c for c in clusters if int(hashlib.sha256(c.encode()).hexdigest(), 16) % 2 == 0]
    return a, [c for c in clusters if c not in set(a)]


def evaluate(grouper: Grouper, batches: Sequence[list[Record]], dated: bool) -> tuple[float, ...]:
    return mean_scores([scores([r.cluster for r in b], grouper(b, dated)) for b in batches])


def five_thousand(corpus: Corpus) -> list[Record]:
    """The file plus copies of random articles with 30 % of their words dropped: 5,000 in all."""
    rng = random.Random(5000)
    copies = []
    for n, original in enumerate(rng.choices(corpus.records, k=5000 - len(corpus.records))):
        text = " ".join(w for w in original.text.split() if rng.random() >= 0.3)
        copies.append(replace(original, id=f"copy-{n}", cluster=f"copy-{n}", text=text))
    return corpus.records + copies


def scaled(corpus: Corpus, n: int) -> list[Record]:
    """n articles: a random n of the file, or the file plus perturbed copies in their events."""
    rng = random.Random(n)
    if n <= len(corpus.records):
        return rng.sample(corpus.records, n)
    copies = []
    for k, original in enumerate(rng.choices(corpus.records, k=n - len(corpus.records))):
        text = " ".join(w for w in original.text.split() if rng.random() >= 0.3)
        copies.append(replace(original, id=f"copy-{k}", text=text))
    return corpus.records + copies


def peak_mb() -> float:
    """This process's peak resident memory in MB (its own, not inherited from its parent)."""
    import resource

    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale_run(data: Path, n: int, grouper: str) -> dict[str, float]:
    """Group ``scaled(n)`` once in this process: times, peak memory and quality."""

    records = scaled(load(data), n)
    # The baseline's threshold as tuned on half-A days; scikit-learn imported only for its run.
    group = digest_grouper if grouper == "digest" else baseline("complete", 0.86)
    before = peak_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    labels = group(records, False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_mb()
    *_, f1, ari = scores([x.cluster for x in records], labels)
    return {"wall": wall, "cpu": cpu, "before": before, "peak": peak, "f1": f1, "ari": ari}


def scale_row(data: Path, n: int, grouper: str) -> dict[str, float]:
    """scale_run in a subprocess of its own, so its peak memory is its own."""
    import subprocess

    command = [sys.executable, __file__, "--scale", str(n), grouper, str(data)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found: dict[str, float] = json.loads(done.stdout)
    return found


def print_scaling(data: Path) -> None:
    print()
    print("scaling (one run each, in a subprocess; peak RSS before -> after grouping):")
    print(
        f"  {'articles':>8} {'grouper':<9} {'wall s':>7} {'CPU s':>7} {'peak RSS MB':>16} {'F1':>6}"
    )
    for n in (1_000, 10_000, 50_000):
        for grouper in ("digest", "baseline") if n <= 1_000 else ("digest",):
            m = scale_row(data, n, grouper)
            rss = f"{m['before']:.0f} -> {m['peak']:.0f}"
            print(
                f"  {n:>8,} {grouper:<9} {m['wall']:7.2f} {m['cpu']:7.2f} {rss:>16} {m['f1']:6.3f}"
            )


def timed(grouper: Grouper, records: Sequence[Record], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds over ``runs`` runs, each from a cold word cache."""
    walls, cpus = [], []
    for _ in range(runs):
        similarity._word.cache_clear()
        wall, cpu = time.perf_counter(), time.process_time()
        grouper(records, False)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _check_ari(batch: Sequence[Record]) -> None:
    """Our adjusted Rand index agrees with scikit-learn's."""
    from sklearn.metrics import adjusted_rand_score

    truth, labels = [r.cluster for r in batch], digest_grouper(batch, False)
    assert abs(scores(truth, labels)[3] - adjusted_rand_score(truth, labels)) < 1e-9


# --- the report ------------------------------------------------------------------------------


def row(name: str, ours: tuple[float, ...], theirs: tuple[float, ...] | None) -> str:
    cells = " ".join(f"{x:6.3f}" for x in ours)
    if theirs is None:
        return f"{name:<34} {cells}"
    peer = " ".join(f"{x:6.3f}" for x in theirs)
    ratio = ours[2] / theirs[2] if theirs[2] else float("inf")
    return f"{name:<34} {cells}   {peer}   {ratio:5.2f}"


def main(argv: Sequence[str]) -> int:
    data = Path(argv[0]) if argv else DATA
    if not data.is_file():
        print(f"{data}: not found (the shared benchmark data); nothing to measure", file=sys.stderr)
        return 1
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("the baseline needs scikit-learn: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    corpus = load(data)
    ids = sorted(corpus.clusters)
    half_a, half_b = halves(ids)
    print(
        f"{len(corpus.records)} articles in {len(ids)} events; halves A {len(half_a)}, B {len(half_b)}"
    )

    days = {
        name: [corpus.day(s, pool) for s in SEEDS]
        for name, pool in (("all", ids), ("A", half_a), ("B", half_b))
    }
    _check_ari(days["all"][0])
    tuning = days["A"]
    best = max(
        ((linkage, t) for linkage in ("average", "complete") for t in THRESHOLDS),
        key=lambda lt: evaluate(baseline(*lt), tuning, False)[2],
    )
    peer = baseline(*best)
    print(f"baseline tuned on half-A days: {best[0]} linkage, cosine distance threshold {best[1]}")
    print()
    print(
        f"{'batch':<34} {'digest: P      R      F1     ARI':<30}   {'baseline: P    R      F1     ARI':<30}   F1 ratio"
    )

    def compare(name: str, batches: Sequence[list[Record]], dated: bool) -> None:
        print(row(name, evaluate(digest_grouper, batches, dated), evaluate(peer, batches, dated)))

    compare("(a) days, 60 events (all)", days["all"], False)
    compare("    days from half A (tuned on)", days["A"], False)
    compare("    days from half B (held out)", days["B"], False)
    for singles in (60, 180):
        mixed = [corpus.day(s, ids, singles=singles) for s in SEEDS]
        compare(f"(a') days + {singles} single-source items", mixed, False)
    for half, pool in (("A (tuned on)", half_a), ("B (held out)", half_b)):
        mixed = [corpus.day(s, pool, singles=180) for s in SEEDS]
        compare(f"     + 180, all from half {half}", mixed, False)
    months = corpus.months()
    fullest = max(months, key=lambda m: (len(months[m]), m))
    compare(f"(b) month {fullest} ({len(months[fullest])} articles)", [months[fullest]], True)
    print(
        row(
            "    same month, dates ignored",
            evaluate(digest_grouper, [months[fullest]], False),
            None,
        )
    )
    compare(f"    mean over all {len(months)} months", list(months.values()), True)
    compare(f"(c) whole file ({len(corpus.records)} articles)", [corpus.records], True)

    big = five_thousand(corpus)
    ours_wall, ours_cpu = timed(digest_grouper, big, runs=3)
    edition_wall, edition_cpu = timed(edition_grouper, big, runs=3)
    peer_wall, peer_cpu = timed(peer, big, runs=1)
    print()
    print(f"time to group {len(big)} articles (3,179 + 1,821 perturbed copies, one moment):")
    print(
        f"  digest   {ours_wall:6.2f} s wall, {ours_cpu:6.2f} s CPU (median of 3): stories.group_texts"
    )
    print(
        f"  digest   {edition_wall:6.2f} s wall, {edition_cpu:6.2f} s CPU (median of 3):"
        " edition.group_stories + plan_edition, from Articles"
    )
    print(f"  baseline {peer_wall:6.2f} s wall, {peer_cpu:6.2f} s CPU (one run)")
    print(f"  ratio    {peer_wall / ours_wall:6.1f}x faster")
    print_scaling(data)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--scale"]:
        print(json.dumps(scale_run(Path(sys.argv[4]), int(sys.argv[2]), sys.argv[3])))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
