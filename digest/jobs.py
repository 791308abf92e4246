"""The job types `digest worker` runs, registered in digest.queue.JOBS by name.

Each is a thin call into digest/cycle (orchestration stays there); the arguments are JSON.
A job must be safe to run twice: the data guards what happens once.

To add one: ``@queue.job("name")`` on ``def body(config, *, should_stop, **args) -> None``
here, and queue it with ``queue.defer(config, "name", args, lock=...)``.
"""

from __future__ import annotations

from digest import cycle, queue
from digest.config import Config
from digest.cycle import ShouldStop


@queue.job("send", alone=True)
def send(config: Config, *, should_stop: ShouldStop, edition_key: str) -> None:
    """Up to workers.send_batch recipients of ``edition_key`` (their ledger claims decide)."""
    cycle.send_job(config, edition_key=edition_key, should_stop=should_stop)


@queue.job("collect")
def collect(config: Config, *, should_stop: ShouldStop, source: str) -> None:
    """The source whose URL is ``source``: its feed and its articles' pages."""
    cycle.collect_job(config, source=source, should_stop=should_stop)


@queue.job("summarize")
def summarize(config: Config, *, should_stop: ShouldStop, article_ids: list[str]) -> None:
    """Summaries of these articles, into the store's cache (the build reads them from there)."""
    cycle.summarize_job(config, article_ids=article_ids, should_stop=should_stop)


queue.sweep(cycle.sweep_sends)
