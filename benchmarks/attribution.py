"""Attribution: how many summaries show a pronoun or a speaker whose introduction was left out.

Reads ``../shared/data/summaries/dev.jsonl`` and, for digest's default summarizer, LEAD-3 and
stock sumy LexRank (the systems of benchmarks/summarize.py), counts the summaries with at least
one orphan, per family and overall:

- an orphan pronoun: a summary sentence that opens with he, she, they, his, her, their, him or
  them (after opening quotes and "But", "And", ...), or names its speaker with one ("..., he
  said.", "said she."), while the sentence before it in the article is not in the summary;
- an orphan speaker: a summary sentence that uses a surname alone ("Van Rooij said", "Mr
  Penrose") when the article gave the full name ("Matthijs van Rooij") in an earlier sentence
  and no summary sentence up to this one gives it.

The detector here is written apart from digest's own rule (digest/attribution.py), with plain
regular expressions, English only, so that digest is not graded by its own code.

    .venv/bin/python benchmarks/attribution.py [--data FILE] [--show N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from summarize import DATA, FAMILIES, SYSTEMS, TOKENIZER, family

from digest.text import paragraphs

PEERS = ("digest (default)", "LEAD-3", "sumy LexRank")
OPENER = re.compile(
    r"^[\"“‘'(]*(?:(?:but|and|yet|so|still|however|meanwhile),?\s+)?"
    r"(?:he|she|they|his|her|their|him|them)\b",
    re.I,
)
SPEAKER = re.compile(
    r"[,\"”’]\s*(?:he|she|they)\s+(?:said|says|added|told|explained|noted|argued|warned)\b"
    r"|\b(?:said|says|added)\s+(?:he|she|they)\s*[.,]",
    re.I,
)
PARTICLE = r"(?:van|von|de|da|di|del|der|den|la|le|bin|al|dos)"
NOT_GIVEN = (
    r"(?!(?:Mr|Mrs|Ms|Miss|Dr|Prof|Van|Von|De|Da|Di|Del|La|Le|The|A|An|But|And|So|Yet|In|On|At|"
    r"For|With|As|If|When|While|After|Before|Since|Then|Now|Both|Neither|Meanwhile|However)\b)"
)
"""A word that opens a full name: a title or a capitalized opener is not a given name."""
FULL_NAME = r"\b{0}[A-Z][a-z]+(?:\s+[A-Z]\.)?(?:\s+{1})*\s+{2}\b"
""" "Given [I.] [particles] Surname": format with NOT_GIVEN, PARTICLE and the surname pattern."""
ANY_FULL_NAME = re.compile(FULL_NAME.format(NOT_GIVEN, PARTICLE, "([A-Z][a-z]+(?:-[A-Z][a-z]+)?)"))


def orphans(summary: Sequence[str], article: Sequence[str]) -> list[str]:
    """The summary's sentences that lean on an article sentence the summary left out."""
    covered = [_find(s, article) for s in summary]
    position = [c[0] if c else -1 for c in covered]
    shown = {i for c in covered for i in c}
    surnames = _surnames(article)
    found = []
    for n, (sentence, i) in enumerate(zip(summary, position, strict=True)):
        pronoun = OPENER.search(sentence) or SPEAKER.search(sentence)
        if pronoun and i > 0 and i - 1 not in shown:
            found.append(sentence)
            continue
        given = " ".join(summary[: n + 1])
        for surname, (first, full) in surnames.items():
            if first < i and _bare(surname, full, sentence) and not re.search(full, given):
                found.append(sentence)
                break
    return found


def _bare(surname: str, full: str, sentence: str) -> bool:
    """Whether ``sentence`` uses ``surname`` once without a given name before it."""
    whole = {m.end() for m in re.finditer(full, sentence)}
    return any(m.end() not in whole for m in re.finditer(rf"\b{surname}\b", sentence))


def _find(sentence: str, article: Sequence[str]) -> list[int]:
    """The article's sentences that ``sentence`` is (or is in, or joins: a quote over several)."""
    inside = [i for i, s in enumerate(article) if sentence in s]
    return inside[:1] or [i for i, s in enumerate(article) if s in sentence]


def _surnames(article: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Surname -> (the sentence that first names the person in full, a pattern of the full name)."""
    text = " ".join(article)
    names: dict[str, tuple[int, str]] = {}
    for i, sentence in enumerate(article):
        for match in ANY_FULL_NAME.finditer(sentence):
            surname = match.group(1)
            given = match.group(0).split()[0].lower()
            if surname in names or re.search(rf"\b(?:{surname.lower()}|{given})\b", text):
                continue
            earlier = " ".join(article[:i]) + sentence[: match.start()]
            if not re.search(rf"\b{surname}\b", earlier):
                names[surname] = (i, FULL_NAME.format(NOT_GIVEN, PARTICLE, surname))
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--show", type=int, default=0, help="print N of digest's orphans")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.data} is not here: nothing to measure (see ../shared/data/MANIFEST.md).")
        return 0
    records = [json.loads(line) for line in args.data.open(encoding="utf-8") if line.strip()]
    counts = {peer: dict.fromkeys((*FAMILIES, "all"), 0) for peer in PEERS}
    sizes = {f: sum(family(r) == f for r in records) for f in FAMILIES} | {"all": len(records)}
    shown = 0
    for record in records:
        article = [s for p in paragraphs(record["text"]) for s in TOKENIZER.to_sentences(p)]
        for peer in PEERS:
            bad = orphans(SYSTEMS[peer](record), article)
            if bad:
                counts[peer][family(record)] += 1
                counts[peer]["all"] += 1
                if peer == PEERS[0] and shown < args.show:
                    shown += 1
                    print(f"{record['id']}: {bad[0]}")
    print(f"\nSummaries with an orphan pronoun or speaker, % (of {len(records)} articles)")
    print(f"{'':<18}" + "".join(f"{f + f' ({sizes[f]})':>14}" for f in (*FAMILIES, "all")))
    for peer in PEERS:
        row = "".join(
            f"{100 * counts[peer][f] / sizes[f]:>14.1f}" if sizes[f] else f"{'-':>14}"
            for f in (*FAMILIES, "all")
        )
        print(f"{peer:<18}{row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
