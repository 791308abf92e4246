"""The store on PostgreSQL beside SQLite: one machine's send, and the list of editions.

1. Send: one edition to N recipients (default 2,000) through `pipeline.send` (compose,
   ledger, SMTP over STARTTLS to aiosmtpd in its own process, as benchmarks/deliver.py),
   with the store on SQLite and on PostgreSQL (127.0.0.1:5432), in the same run.
2. The list of editions at 1 and 365 editions of a realistic size: `Store.edition_index`
   (what /editions/ reads now) beside `Store.editions` (every edition with its HTML, what
   it read before), on both engines.

Run from the repository root: .venv/bin/python benchmarks/store.py [--recipients N].
Needs the test extra and a PostgreSQL that trusts local connections (database `test`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.deliver import _config, _edition, _timed, start_sink  # noqa: E402
from digest import pipeline  # noqa: E402
from digest.render import render_email  # noqa: E402
from digest.store import open_store  # noqa: E402
from tests.databases import empty_schema, postgres_database  # noqa: E402
from tests.mailserver import make_certificate  # noqa: E402
from tests.samples import NOW, sample_edition  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp, postgres_database() as url:
        send(Path(tmp), url, args.recipients)
        listing(Path(tmp), url)


def send(folder: Path, url: str, recipients: int) -> None:
    config, control, server = start_sink(folder)
    addresses = [f"reader{i:05}@example.com" for i in range(recipients)]
    rows = []
    # SQLite in WAL mode with synchronous=NORMAL does not flush each commit to disk; the third
    # row gives PostgreSQL the same durability (a server crash may lose the last commits).
    engines = (
        ("SQLite", ""),
        ("PostgreSQL", url),
        ("PostgreSQL, synchronous_commit=off", f"{url}?options=-csynchronous_commit%3Doff"),
    )
    for number, (engine, database_url) in enumerate(engines):
        if database_url:
            empty_schema(url)
        engine_config = replace(config, database_url=database_url)
        with open_store(config.data_dir / str(number), url=database_url) as store:
            _edition(store, engine_config, addresses)
            rows.append(
                _timed(
                    engine,
                    recipients,
                    lambda: pipeline.send(engine_config, store, now=NOW),  # noqa: B023
                    control,
                )
            )
    control.send("stop")
    server.join(10)
    print(
        f"send: {recipients} recipients over STARTTLS to aiosmtpd on 127.0.0.1 (own process), "
        f"one `pipeline.send` per row; load average {os.getloadavg()[0]:.1f} (1 min)"
    )
    print(
        f"{'digest send, store on':<36} {'received':>8} {'seconds':>8} {'msg/s':>8} {'vs SQLite':>9}"
    )
    for name, _, received, seconds, rate in rows:
        print(f"{name:<36} {received:>8} {seconds:>8.2f} {rate:>8.1f} {rate / rows[0][4]:>8.2f}x")


def listing(folder: Path, url: str) -> None:
    email, _ = render_email(sample_edition(12), *_settings(folder))
    print(f"\nlist of editions ({len(email.html) / 1000:.0f} kB of HTML each), median of 20 calls")
    print(
        f"{'engine':<11} {'editions':>8} {'edition_index':>14} {'editions() (HTML)':>18} {'ratio':>7}"
    )
    for engine, database_url in (("SQLite", ""), ("PostgreSQL", url)):
        if database_url:
            empty_schema(database_url)
        with open_store(folder / "list" / engine, url=database_url) as store:
            made = 0
            for count in (1, 365):
                for number in range(made + 1, count + 1):
                    key = (NOW - timedelta(days=365 - number)).date().isoformat()
                    store.save_edition(
                        replace(email, edition_key=key), number=number, built=NOW, article_ids=[]
                    )
                made = count
                index = _median(lambda s=store: s.edition_index())  # type: ignore[misc]
                full = _median(lambda s=store: s.editions())  # type: ignore[misc]
                print(
                    f"{engine:<11} {count:>8} {index * 1000:>11.2f} ms {full * 1000:>15.2f} ms "
                    f"{full / index:>6.0f}x"
                )


def _settings(folder: Path) -> tuple[object, object]:
    config = _config(folder / "settings", 25, make_certificate(folder / "tls2"))
    return config.newsletter, config.render


def _median(call: Callable[[], object]) -> float:
    times = []
    for _ in range(20):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    main()
