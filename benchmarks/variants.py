"""Variants benchmark: one edition for 100,000 readers who chose among 200 variants.

    .venv/bin/python benchmarks/variants.py [--readers 100000] [--variants 200] [--sample 200]

Readers choose sections (subsets of eight) and a language (English or German): 200 distinct
choices, the edition itself (every section, English) among them. In one run it prints:
  * digest: `pipeline.build` (summaries, stories, and each variant rendered and inlined
    once), with the number of renders, which must equal the variants; then planning the
    ledger (each reader's variant and due time) and filling every reader's slots
    (`render.personalize`), for all readers;
  * the peer, what a sender without variants does: render and inline the edition for each
    reader from their choices. It is timed on a sample of readers and extrapolated to all of
    them (labelled so); the sample's renders are counted too.
Needs no third-party material: the articles are made up (eight sections, 12 stories each).
Uses a SQLite store in a temporary folder.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest import pipeline, render  # noqa: E402
from digest.addresses import address_key  # noqa: E402
from digest.config import Config, EditionConfig, NewsletterConfig, SourceConfig  # noqa: E402
from digest.models import DEFAULT_NEWSLETTER, Article  # noqa: E402
from digest.newsletters import Variant, offer_of, variant_of  # noqa: E402
from digest.pipeline import audience, building  # noqa: E402
from digest.store import Store, open_store  # noqa: E402

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
SECTIONS = (
    "Politics",
    "Economy",
    "Markets",
    "World",
    "Technology",
    "Health",
    "Science",
    "Culture",
)
WORDS = [
    "copper",
    "strike",
    "port",
    "tariff",
    "election",
    "budget",
    "vaccine",
    "rocket",
    "chip",
    "merger",
    "drought",
    "harvest",
    "court",
    "ruling",
    "summit",
    "pipeline",
    "satellite",
    "museum",
    "festival",
    "inflation",
    "bond",
    "yield",
    "currency",
]


def choices(count: int) -> list[Variant]:
    """``count`` distinct variants: section subsets in two languages, the edition itself first."""
    subsets = [
        combo
        for size in (8, 1, 2, 3, 7, 6, 4, 5)
        for combo in itertools.combinations(SECTIONS, size)
    ]
    made = [
        Variant(tuple(s) if len(s) < len(SECTIONS) else (), lang)
        for s in subsets
        for lang in ("", "de")
    ]
    return made[:count]


def articles() -> list[Article]:
    rng = random.Random(7)
    made = []
    for i in range(96):
        section = SECTIONS[i % len(SECTIONS)]
        words = rng.sample(WORDS, 6)
        made.append(
            Article(
                id=f"tag:bench:{i}",
                source=f"Outlet {i % 5}",
                section=section,
                url=f"https://news{i % 5}.example/{i}",
                title=f"Story {i}: {' '.join(words[:4]).capitalize()} in region {i}",
                text=" ".join(
                    f"{w.capitalize()} news {i} from region {i}, sentence {n}, {rng.choice(WORDS)}."
                    for n, w in enumerate(words * 2)
                ),
                published=NOW - timedelta(minutes=7 * i + 3),
                source_key=f"https://news{i % 5}.example/feed/{section}",
            )
        )
    return made


def fill(store: Store, readers: int, variants: list[Variant]) -> None:
    """``readers`` confirmed subscribers, reader i choosing variant i % len(variants)."""
    stamp = NOW.isoformat()
    with store.db:
        store.db.executemany(
            """INSERT INTO subscribers (email, address_key, name, status, created, updated)
               VALUES (?, ?, ?, 'confirmed', ?, ?)""",
            [
                (
                    f"r{i:06}@example.com",
                    address_key(f"r{i:06}@example.com"),
                    f"R {i}",
                    stamp,
                    stamp,
                )
                for i in range(readers)
            ],
        )
        store.db.executemany(
            """INSERT INTO memberships (address_key, newsletter, sections, frequency, send_time,
                   timezone, language, updated)
               VALUES (?, ?, ?, 'daily', '', ?, ?, ?)""",
            [
                (
                    f"r{i:06}@example.com",
                    DEFAULT_NEWSLETTER,
                    _json(variants[i % len(variants)].sections),
                    ("", "Asia/Tokyo", "America/New_York")[i % 3],
                    variants[i % len(variants)].language,
                    stamp,
                )
                for i in range(readers)
            ],
        )


def _json(sections: tuple[str, ...]) -> str:
    import json

    return json.dumps(list(sections)) if sections else ""


class Counting:
    """Counts calls to digest.render.render_email (each one renders and inlines an email)."""

    def __init__(self) -> None:
        self.calls = 0
        self._original: Callable[..., Any] = render.render_email

    def __enter__(self) -> Counting:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return self._original(*args, **kwargs)

        render.render_email = counted  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        render.render_email = self._original  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--variants", type=int, default=200)
    parser.add_argument("--sample", type=int, default=200, help="readers the peer renders for")
    args = parser.parse_args()
    variants = choices(args.variants)
    assert len(set(variants)) == args.variants

    with tempfile.TemporaryDirectory() as folder:
        config = Config(
            data_dir=Path(folder),
            newsletter=NewsletterConfig(name="The Morning Brief", languages=("de",)),
            edition=EditionConfig(sections=SECTIONS, max_per_section=6),
            sources=tuple(
                SourceConfig(name="Outlet", url=f"https://news.example/feed/{s}", section=s)
                for s in SECTIONS
            ),
        )
        with open_store(Path(folder)) as store:
            store.save_articles(articles(), now=NOW)
            fill(store, args.readers, variants)
            chosen = audience.readers(config, store)
            assert len(chosen) == args.readers
            # Summaries are cached per article: warm them, so both sides render, not summarize.
            pipeline.preview(config, store, now=NOW)

            # 1. digest: the edition and each variant rendered once.
            with Counting() as renders:
                start = time.perf_counter()
                report = pipeline.build(config, store, now=NOW)
                build_seconds = time.perf_counter() - start
            assert report.email is not None
            rendered = store.edition_variants("2026-11-30")
            emails = {"": report.email, **rendered}

            # 2. digest: the ledger planned (variant and due time per reader), then each
            #    reader's own values filled into their variant's slots.
            start = time.perf_counter()
            planned = audience.plan(config, chosen, rendered=set(rendered), anchor=NOW)
            store.plan_deliveries("2026-11-30", planned, now=NOW)
            plan_seconds = time.perf_counter() - start
            start = time.perf_counter()
            for row in planned:
                render.personalize(emails[row.variant], _recipient(row.email))
            personalize_seconds = time.perf_counter() - start

            # 3. The peer: render and inline for each reader of a sample, from their choices.
            offer = offer_of(config)
            found = building._stories(config, store, articles(), key="2026-11-30", now=NOW)
            sample = random.Random(1).sample(chosen, args.sample)
            with Counting() as peer_renders:
                start = time.perf_counter()
                for reader in sample:
                    building._render_variant(
                        config,
                        store,
                        found,
                        variant_of(offer, reader.membership),
                        key="2026-11-30",
                        number=1,
                        now=NOW,
                    )
                peer_sample = time.perf_counter() - start

    per_reader = peer_sample / args.sample
    peer_all = per_reader * args.readers
    digest_all = build_seconds + plan_seconds + personalize_seconds
    load = os.getloadavg()
    print(
        f"variants benchmark: {args.readers:,} readers over {args.variants} variants "
        f"(8 sections x 2 languages), one edition of {len(articles())} articles"
    )
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 shared cores; wall times)")
    print()
    print("| measure | value | notes |")
    print("|---|---|---|")
    rows = [
        ("digest: renders (each variant once)", f"{renders.calls}", f"variants: {args.variants}"),
        (
            "digest: build (stories + every variant rendered and inlined)",
            f"{build_seconds:.2f} s",
            f"{build_seconds / renders.calls * 1000:.0f} ms per render",
        ),
        (
            f"digest: plan the ledger, {args.readers:,} rows (variant, due time)",
            f"{plan_seconds:.2f} s",
            "",
        ),
        (
            f"digest: personalize {args.readers:,} readers (slots)",
            f"{personalize_seconds:.2f} s",
            f"{personalize_seconds / args.readers * 1e6:.0f} µs each",
        ),
        ("digest: total", f"{digest_all:.2f} s", ""),
        (
            f"peer: render per reader, measured on {args.sample} readers",
            f"{peer_sample:.2f} s",
            f"{peer_renders.calls} renders, {per_reader * 1000:.0f} ms each",
        ),
        (
            f"peer: render per reader, {args.readers:,} readers (EXTRAPOLATED from the sample)",
            f"{peer_all:.0f} s",
            f"{args.readers:,} renders",
        ),
        (
            "digest / peer time (extrapolated peer)",
            f"{digest_all / peer_all:.4f}",
            "below 1: digest is faster",
        ),
    ]
    for measure, value, note in rows:
        print(f"| {measure} | {value} | {note} |")
    if renders.calls != args.variants:
        sys.exit(f"renders {renders.calls} != variants {args.variants}")


def _recipient(address: str) -> Any:
    from digest.models import Recipient

    return Recipient(email=address, name="Reader", unsubscribe_url=f"https://x.example/u?{address}")


if __name__ == "__main__":
    main()
