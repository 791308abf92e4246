"""Main-text extraction quality: `digest extract` beside trafilatura's defaults, same pages, same run.

For each dataset in ../shared/data/extraction (see its MANIFEST.md) every page
is decoded once (digest's page decoding: BOM, valid UTF-8, declared charset,
cp1252) and the same text goes to both extractors:

* digest: ``digest.extract.extract_text(html, url)``, what `digest extract` prints;
* peer:   ``trafilatura.extract(html)``, trafilatura's default settings.

Scoring follows scrapinghub's article-extraction-benchmark: tokens are ``\\w+``
runs, texts become multisets of 4-token shingles, each page gets true
positives, false positives and false negatives from them, precision and recall
are computed per page and averaged over the pages, and F1 comes from the two
averages. For pages with segment truth (trafilatura's set: ``body`` is null)
each "with" snippet found in the output is a true positive, each one missing a
false negative, and each "without" snippet found a false positive (snippets and
output compared with whitespace collapsed).

Usage: .venv/bin/python benchmarks/extract.py [DATASET ...]

A DATASET is a folder name under ../shared/data/extraction, or a path to any folder laid out the
same way (``pages/ID.html`` and ``truth.jsonl``), e.g. one built in /tmp from a whole upstream
test set; its folder name labels the row.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trafilatura

from digest.collect import decode_html
from digest.extract import extract_text

HERE = Path(__file__).resolve().parent.parent
DATA = (
    next(
        (p / "shared" / "data" for p in HERE.parents[:2] if (p / "shared" / "data").is_dir()),
        HERE.parent / "shared" / "data",
    )
    / "extraction"
)
TOKEN = re.compile(r"\w+")

Counts = tuple[float, float, float]


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def shingle_counts(truth: str, output: str) -> Counts:
    expected, found = shingles(truth), shingles(output)
    return (
        float(sum((expected & found).values())),
        float(sum((found - expected).values())),
        float(sum((expected - found).values())),
    )


def segment_counts(record: dict[str, object], output: str) -> Counts:
    text = " ".join(output.split())
    wanted = [" ".join(str(s).split()) for s in record["with"]]  # type: ignore[attr-defined]
    unwanted = [" ".join(str(s).split()) for s in record["without"]]  # type: ignore[attr-defined]
    found = sum(1 for s in wanted if s in text)
    return float(found), float(sum(1 for s in unwanted if s in text)), float(len(wanted) - found)


def precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


@dataclass
class Score:
    counts: list[Counts] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def precision(self) -> float:
        return statistics.mean(precision(*c) for c in self.counts if c[0] + c[1] > 0)

    @property
    def recall(self) -> float:
        return statistics.mean(recall(*c) for c in self.counts if c[0] + c[2] > 0)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def digest_extract(html: str, url: str) -> str:
    return extract_text(html, url)


def trafilatura_default(html: str, url: str) -> str:
    return trafilatura.extract(html) or ""


EXTRACTORS: dict[str, Callable[[str, str], str]] = {
    "digest": digest_extract,
    "trafilatura": trafilatura_default,
}


def score_dataset(folder: Path) -> tuple[dict[str, Score], int]:
    records = [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()]
    scores = {name: Score() for name in EXTRACTORS}
    for record in records:
        html = decode_html((folder / "pages" / f"{record['id']}.html").read_bytes())
        url = record["url"] if str(record.get("url") or "").startswith("http") else ""
        for name, extractor in EXTRACTORS.items():
            started = time.perf_counter()
            output = extractor(html, url)
            scores[name].seconds += time.perf_counter() - started
            if record["body"] is None:
                scores[name].counts.append(segment_counts(record, output))
            else:
                scores[name].counts.append(shingle_counts(record["body"], output))
    return scores, len(records)


def _dataset_folder(name: str) -> Path:
    """A shared dataset's name, or the path of a folder with pages/ and truth.jsonl."""
    folder = DATA / name if "/" not in name and (DATA / name).is_dir() else Path(name)
    if not (folder / "truth.jsonl").is_file():
        sys.exit(f"{name}: no such dataset (a name under {DATA}, or a folder with truth.jsonl)")
    return folder


def _bodies(folder: Path) -> list[object]:
    lines = (folder / "truth.jsonl").read_text().splitlines()
    return [json.loads(line)["body"] for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "datasets",
        nargs="*",
        help="dataset folder names under ../shared/data/extraction, or paths to folders laid out"
        " the same way (default: every shared dataset)",
    )
    args = parser.parse_args()
    folders = [_dataset_folder(name) for name in args.datasets]
    if not folders:
        if not DATA.is_dir():
            sys.exit(f"{DATA}: not found; this benchmark reads ../shared/data/extraction")
        folders = sorted(p for p in DATA.iterdir() if p.is_dir())
    # Warm both up once so neither pays for imports and lazy setup inside the timing.
    for extractor in EXTRACTORS.values():
        extractor("<html><body><article><p>Warm up.</p></article></body></html>", "")
    print(
        f"{'dataset':<16} {'pages':>5}  {'scoring':<9} "
        f"{'digest F1 (P / R)':<22} {'trafilatura F1 (P / R)':<23} {'ΔF1':>6}  "
        f"{'ms/page digest':>14} {'trafilatura':>11}"
    )
    worse = []
    for folder in folders:
        name = folder.name
        scores, pages = score_dataset(folder)
        ours, peer = scores["digest"], scores["trafilatura"]
        scoring = "segments" if all(c is None for c in _bodies(folder)) else "shingles"
        print(
            f"{name:<16} {pages:>5}  {scoring:<9} "
            f"{ours.f1:.3f} ({ours.precision:.3f} / {ours.recall:.3f})   "
            f"{peer.f1:.3f} ({peer.precision:.3f} / {peer.recall:.3f})    "
            f"{ours.f1 - peer.f1:+.3f}  "
            f"{1000 * ours.seconds / pages:>14.1f} {1000 * peer.seconds / pages:>11.1f}"
        )
        worse += [
            f"{name} {measure} ({mine:.4f} < {theirs:.4f})"
            for measure, mine, theirs in (
                ("F1", ours.f1, peer.f1),
                ("recall", ours.recall, peer.recall),
                ("precision", ours.precision, peer.precision),
            )
            if mine < theirs
        ]
    print(
        "\ndigest is no worse than trafilatura's defaults on every dataset (F1, recall, precision)"
        if not worse
        else f"\ndigest is WORSE than trafilatura's defaults on: {'; '.join(worse)}"
    )


if __name__ == "__main__":
    main()
