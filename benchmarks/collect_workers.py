"""Collecting 2,000 feeds with 1, 2 and 4 `digest worker` processes on the PostgreSQL job queue.

2,000 RSS feeds of 10 items each (the demo site's articles, cycled) are written to a
temporary folder and served from a process of their own on 127.0.0.1 (a threading HTTP/1.1
server). The store is on PostgreSQL (127.0.0.1:5432); every row starts from an empty database
and stores the same 20,000 articles. In the same run:

- peer: one process collecting every feed, `pipeline.collect` as `digest collect` runs it
  (no queue, no job per feed).
- digest worker xW: W `digest worker` processes, already started and waiting; the clock runs
  from queueing one collect job per feed (what the leader does at collect time,
  `cycle.queue_collects`) until none is left to do or doing.

Every feed is on one host here; real feeds spread over many, so `collect.per_host` is raised
to the total bound (16), as benchmarks/collect.py does. The per-host places are held in the
store, so the workers together keep to it. Feeds only (`full_text = "never"`).

Run from the repository root: .venv/bin/python benchmarks/collect_workers.py [--feeds 2000]
Needs the test extra and a PostgreSQL that trusts local connections (database `test`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.collect import serve_folder  # noqa: E402
from digest import cycle, pipeline, queue  # noqa: E402
from digest.config import Config, load_config  # noqa: E402
from digest.demo.site import load_content  # noqa: E402
from digest.store import open_store  # noqa: E402
from tests.databases import empty_schema, postgres_database  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
ITEMS = 10


def write_feeds(folder: Path, feeds: int, base: str) -> list[str]:
    """``feeds`` RSS files of ITEMS items each; their URLs."""
    pool = load_content().articles
    urls = []
    for number in range(feeds):
        items = []
        for item in range(ITEMS):
            model = pool[(number * ITEMS + item) % len(pool)]
            link = f"{base}/articles/{number}/{item}.html"
            text = "".join(f"<p>{escape(p)}</p>" for p in model.paragraphs)
            items.append(
                f"<item><title>{escape(model.title)} ({number}.{item})</title>"
                f"<link>{link}</link><guid>{link}</guid>"
                f"<pubDate>Tue, 10 Mar 2026 0{item % 6}:{item:02d}:00 +0000</pubDate>"
                f"<description>{escape(text)}</description></item>"
            )
        (folder / f"feed{number}.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {number}</title><link>{base}/</link>{''.join(items)}</channel></rss>",
            encoding="utf-8",
        )
        urls.append(f"{base}/feed{number}.xml")
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--counts", default="1,2,4", help="worker counts, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.counts.split(",")]
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    with tempfile.TemporaryDirectory(prefix="digest-collect-workers-") as tmp:
        folder = Path(tmp)
        (folder / "site").mkdir()
        server = context.Process(
            target=serve_folder, args=(str(folder / "site"), ports), daemon=True
        )
        server.start()
        try:
            base = f"http://127.0.0.1:{ports.get(timeout=30)}"
            urls = write_feeds(folder / "site", args.feeds, base)
            rows = _measure(folder, urls, counts)
        finally:
            server.terminate()
            server.join()
    print(
        f"\ncollect: {args.feeds} feeds x {ITEMS} items on 127.0.0.1, store on PostgreSQL; "
        f"{os.cpu_count()} CPUs; load average (1 min) as each row began"
    )
    print(f"{'':44} {'articles':>8} {'seconds':>8} {'feeds/s':>8} {'vs peer':>8} {'load':>5}")
    base_rate = rows[0][2] / rows[0][1]
    for name, seconds, feeds, articles, load in rows:
        rate = feeds / seconds
        print(
            f"{name:<44} {articles:>8} {seconds:>8.2f} {rate:>8.1f} "
            f"{rate / base_rate:>7.2f}x {load:>5.1f}"
        )


def _measure(
    folder: Path, urls: list[str], counts: list[int]
) -> list[tuple[str, float, int, int, float]]:
    rows = []
    with postgres_database() as url:
        runs = [("peer: one process, pipeline.collect", 0)]
        runs += [(f"digest worker x{count}, a job per feed", count) for count in counts]
        for number, (name, count) in enumerate(runs):
            empty_schema(url)
            config = _prepare(folder / str(number), url, urls, workers=count > 0)
            load = os.getloadavg()[0]
            seconds = _run(config, count, folder) if count else _in_process(config)
            with open_store(config.data_dir, url=url) as store:
                articles = int(store.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
            rows.append((name, seconds, len(urls), articles, load))
            print(f"  {name}: {seconds:.1f} s, {articles} articles", file=sys.stderr)
    return rows


def _prepare(folder: Path, url: str, urls: list[str], *, workers: bool) -> Config:
    folder.mkdir(parents=True)
    lines = [
        f'data_dir = "{folder / "data"}"',
        f'database_url = "{url}"',
        "[collect]",
        'allow_hosts = ["127.0.0.1"]',
        "per_host = 16",
    ]
    if workers:
        lines += ["[workers]", "enabled = true"]
    for number, feed in enumerate(urls):
        lines += ["[[sources]]", f'name = "Feed {number}"', f'url = "{feed}"']
        lines += ['full_text = "never"', f"max_items = {ITEMS}"]
    path = folder / "digest.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config(path)
    open_store(config.data_dir, url=url).close()  # the schema, before the clock starts
    return config


def _in_process(config: Config) -> float:
    with open_store(config.data_dir, url=config.database_url) as store:
        started = time.perf_counter()
        pipeline.collect(config, store)
        return time.perf_counter() - started


def _run(config: Config, count: int, folder: Path) -> float:
    """Seconds from queueing a collect job per feed until none is left, with ``count`` workers."""
    command = [sys.executable, "-m", "digest", "--config", str(config.path), "worker"]
    logs = [folder / f"worker-{count}-{n}.log" for n in range(count)]
    processes = []
    for log in logs:
        with log.open("wb") as output:
            processes.append(
                subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=ENV)
            )
    try:
        deadline = time.monotonic() + 120
        while not all(": taking " in log.read_text() for log in logs):
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start:\n" + logs[0].read_text())
            time.sleep(0.1)
        started = time.perf_counter()
        cycle.queue_collects(config)
        while queue.unfinished(config, "collect"):
            time.sleep(0.2)
        return time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)


if __name__ == "__main__":
    main()
