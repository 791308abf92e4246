"""Drive every module-level regular expression in digest/ with long, repetitive, near-miss text.

Run as ``python -m tests.patterns``: it prints one line per pattern as it starts
it (so a parent that kills it after a time limit can say which one hung) and
``slow <name> <seconds> <input>`` for any single search over the time budget.
Patterns are found by introspection, so a new one is covered without editing
this file: module globals that are compiled patterns, or tuples, lists and dict
values holding them.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import digest

LENGTH = 5_000
"""Characters per input: a linear search over this takes about a millisecond."""
BUDGET = 0.25
"""CPU seconds one search may take; a quadratic pattern needs far more at this length. CPU
time, not wall-clock time: a search that waits for a core on a loaded machine is not slow."""
PIECES = (
    " ",
    "\t",
    "\n",
    "a",
    "A",
    "é",
    "1",
    ".",
    ",",
    "-",
    "+",
    "%",
    "$",
    "|",
    "»",
    "'",
    "<",
    ">",
    "=",
    ":",
    "/",
    "\\",
    "(",
    ")",
    "[",
    "]",
    "&",
    "#",
    ";",
    "@",
    "_",
    "。",
    "▲",
)
SEEDS = (
    "EUR 1.08 ",
    "DOW 38,512.30 +0.42% ",
    "S&P 500 ",
    "a | ",
    "Home › ",
    "ab ",
    "1,2.3 ",
    "%41",
    "sign up ",
    "newsletter ",
    "follow us ",
    "photo: ",
    "read more ",
    "Mr. ",
    "A. ",
    "<meta charset",
    "charset=",
    "max-age=",
    "utm_",
    "x-y'z ",
    "12:30 ",
    "1-5/2,",
    "Jan. ",
    "— ",
    "...",
    "?!",
    "a\n\n",
    " \n ",
    "»» ",
    "(dark) ",
)
ENDS = ("", "!", "\x00", " as of noon", "\n")


def patterns() -> Iterator[tuple[str, re.Pattern[Any]]]:
    """Every compiled pattern reachable from a module global of a digest module."""
    for info in pkgutil.walk_packages(digest.__path__, "digest."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            for index, pattern in enumerate(_patterns_in(value)):
                yield f"{info.name}.{name}[{index}]", pattern


def _patterns_in(value: Any) -> Iterator[re.Pattern[Any]]:
    if isinstance(value, re.Pattern):
        yield value
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from _patterns_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _patterns_in(item)


def inputs(pattern: re.Pattern[Any]) -> Iterator[str]:
    """Long repetitions of one piece, of a pair of pieces, of a seed and of the pattern's words."""
    words = re.findall(r"[A-Za-z]{2,}", pattern.pattern if isinstance(pattern.pattern, str) else "")
    units = [*PIECES, *SEEDS, *(w + " " for w in words[:40])]
    units += [a + b for a in PIECES[:12] for b in PIECES[:12] if a != b]
    for unit in units:
        for end in ENDS:
            yield unit * (LENGTH // len(unit)) + end


def main() -> int:
    slow = 0
    seen: set[int] = set()
    for name, pattern in patterns():
        if id(pattern) in seen:
            continue
        seen.add(id(pattern))
        print("pattern", name, flush=True)
        for text in inputs(pattern):
            subject: str | bytes = text
            if isinstance(pattern.pattern, bytes):
                subject = text.encode("utf-8")
            started = time.process_time()
            pattern.search(subject)  # type: ignore[arg-type]
            took = time.process_time() - started
            if took > BUDGET:
                slow += 1
                print(f"slow {name} {took:.2f}s {text[:40]!r}...", flush=True)
                break
    print("done", flush=True)
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
