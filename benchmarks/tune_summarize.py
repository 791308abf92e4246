"""How digest's "news" weights were chosen: a grid on half A of each family, checked on half B.

For each weighting, scores the summaries of ``../shared/data/summaries/dev.jsonl`` against the
references (ROUGE-1 and -2 F1, rouge-score's tokenizer and stemmer) and prints, per family and
half, the gain over LEAD-3 (mean of the R1 and R2 differences, x100). Weightings are ranked by
half A alone: the worse of cnndm and xsum (where LEAD-3 is hard to beat), then bbc. Half B shows
whether a ranking holds on articles the choice never saw.

    .venv/bin/python benchmarks/tune_summarize.py [--data FILE] [--max-words N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rouge_score.tokenizers import DefaultTokenizer
from summarize import DATA, FAMILIES, family, half, lead3

from digest.sentences import language_name
from digest.summarize import (
    ENOUGH,
    Candidate,
    Settings,
    Weights,
    candidate_sentences,
    news_scores,
    pick,
)
from digest.text import strip_boilerplate

GRID = {
    "lead": (1, 2, 3),
    "centrality": (0.2, 0.3, 0.45, 0.6),
    "headline": (0.3, 0.6),
    "opener": (0.0, 0.1, 0.2, 0.3),
}
TOKENIZER = DefaultTokenizer(use_stemmer=True)


class Article:
    """One record, with what every weighting needs computed once."""

    def __init__(self, record: dict[str, str]) -> None:
        self.family, self.half, self.title = family(record), half(record), record["title"]
        self.language = language_name("", record["text"])
        self.candidates = candidate_sentences(
            strip_boilerplate(record["text"]), title=self.title, language=self.language
        )
        self.tokens = [TOKENIZER.tokenize(c.text) for c in self.candidates]
        reference = TOKENIZER.tokenize(record["reference"])
        self.reference = (ngrams(reference, 1), ngrams(reference, 2))
        self.lead = self.rouge(TOKENIZER.tokenize(" ".join(lead3(record))))

    def rouge(self, tokens: Sequence[str]) -> float:
        """The mean of ROUGE-1 and ROUGE-2 F1 against the reference."""
        return (
            f1(ngrams(tokens, 1), self.reference[0]) + f1(ngrams(tokens, 2), self.reference[1])
        ) / 2

    def gain(self, weights: Weights, settings: Settings) -> float:
        scores = news_scores(
            self.candidates, title=self.title, language=self.language, weights=weights
        )
        enough = round(settings.max_words * ENOUGH)
        chosen: list[Candidate] = pick(self.candidates, scores, settings, enough=enough)
        return 100 * (self.rouge([t for c in chosen for t in self.tokens[c.index]]) - self.lead)


def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def f1(ours: Counter[tuple[str, ...]], reference: Counter[tuple[str, ...]]) -> float:
    overlap = sum((ours & reference).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(ours.values()), overlap / sum(reference.values())
    return 2 * precision * recall / (precision + recall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-words", type=int, default=Settings().max_words)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.data} is not here: nothing to tune on (see ../shared/data/MANIFEST.md).")
        return 0
    articles = [Article(json.loads(line)) for line in args.data.open(encoding="utf-8")]
    settings = Settings(max_words=args.max_words)
    groups = [(f, h) for f in FAMILIES for h in "AB"]
    rows = []
    for values in itertools.product(*GRID.values()):
        weights = Weights(**dict(zip(GRID, values, strict=True)))
        gains = {
            g: [a.gain(weights, settings) for a in articles if (a.family, a.half) == g]
            for g in groups
        }
        mean = {g: statistics.mean(v) for g, v in gains.items()}
        rows.append(
            (min(mean[("cnndm", "A")], mean[("xsum", "A")]), mean[("bbc", "A")], weights, mean)
        )
    rows.sort(key=lambda row: (-row[0], -row[1]))
    print(
        f"gain over LEAD-3, mean of R1 and R2 F1 x100; max_words={args.max_words}; ranked on half A"
    )
    print(" ".join(f"{f} {h:<4}" for f, h in groups), " weights")
    for *_, weights, mean in rows[: args.top]:
        marker = "  <- default" if weights == Weights() else ""
        print(" ".join(f"{mean[g]:+8.2f}" for g in groups), f" {weights}{marker}")
    rank = next(i for i, row in enumerate(rows) if row[2] == Weights())
    print(f"digest's default Weights() ranks {rank + 1} of {len(rows)} on half A.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
