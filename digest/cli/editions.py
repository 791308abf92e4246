"""Making and sending editions: collect, build, stories, preview, send, deliveries, demo."""

from __future__ import annotations

import signal
import sys
import threading
import time
import webbrowser
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType

import click

from digest import demo as demo_site
from digest import pipeline
from digest.cli.common import config_of
from digest.config import Config, load_config
from digest.errors import DeliveryError, UsageError
from digest.models import FeedResult
from digest.store import Store, open_store, utcnow


@click.command()
@click.pass_context
def collect(ctx: click.Context) -> None:
    """Fetch every source that is due; store new articles and update changed ones."""
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        _collect(config, store)


def _collect(config: Config, store: Store, *, now: datetime | None = None) -> None:
    """Collect with a progress bar on a terminal, else one line per source; then a line of counts."""
    names = {s.url: s.name for s in config.sources}
    now = now or utcnow()
    with interrupted_by_sigterm():
        report = _collect_with_progress(config, store, names, now=now)
    _print_collect_summary(report)


def _collect_with_progress(
    config: Config, store: Store, names: dict[str, str], *, now: datetime
) -> pipeline.CollectReport:
    if not sys.stdout.isatty():
        report = pipeline.collect(
            config, store, now=now, progress=lambda r: _print_feed(r, names[r.state.key])
        )
    else:
        with click.progressbar(
            length=len(config.sources),
            label="collecting",
            show_pos=True,
            item_show_func=lambda name: name,
        ) as bar:
            report = pipeline.collect(
                config, store, now=now, progress=lambda r: bar.update(1, names[r.state.key])
            )
        for result in report.results:
            if result.status in ("failed", "disabled"):
                _print_feed(result, names[result.state.key])
    return report


@contextmanager
def interrupted_by_sigterm() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C here, so collect keeps what arrived."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.raise_signal(signal.SIGINT)  # whoever handles Ctrl-C now (asyncio.run does)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_feed(result: FeedResult, name: str) -> None:
    detail = f"{len(result.articles)} entries" if result.status == "ok" else result.message
    line = f"{result.status:<9} {name}" + (f": {detail}" if detail else "")
    click.echo(line, err=result.status == "failed")


def _print_collect_summary(report: pipeline.CollectReport) -> None:
    for problem in report.page_errors:
        click.echo(f"page failed {problem}", err=True)
    click.echo(
        f"{len(report.results)} sources: {report.count('ok')} succeeded, "
        f"{report.count('unchanged')} unchanged, {report.count('failed')} failed, "
        f"{report.count('skipped')} not due, {report.count('disabled')} disabled; "
        f"{report.new} new articles, {report.updated} updated"
    )


@click.command()
@click.option("--no-collect", is_flag=True, help="Build from what is already collected.")
@click.pass_context
def build(ctx: click.Context, no_collect: bool) -> None:
    """Collect, summarize and render today's edition; print where its files are."""
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        if not no_collect:
            _collect(config, store)
        report = pipeline.build(config, store, now=utcnow())
    _print_build(report)


@click.command()
@click.pass_context
def stories(ctx: click.Context) -> None:
    """Show how the next edition groups, ranks and places the collected articles, and why."""
    from digest.edition import explain

    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        report = pipeline.stories(config, store, now=utcnow())
    plan = report.plan
    continuing = sum(1 for s in plan.shown + tuple(s for s, _ in plan.left_out) if s.sent_in)
    click.echo(
        f"{report.candidates} new articles; {len(plan.shown)} stories in the edition, "
        f"{len(plan.left_out)} left out; {continuing} continue stories sent before"
    )
    for line in explain(plan):
        click.echo(line)


def _print_build(report: pipeline.BuildReport) -> None:
    if report.message:
        click.echo(report.message)
    if report.edition is not None:
        e = report.edition
        click.echo(
            f"edition {e.key} (issue {e.number}): {len(e.items)} stories, {len(e.more)} in the web edition only"
        )
    for name, path in report.paths.items():
        click.echo(f"{name:<13} {path}")


@click.command()
@click.option("--collect/--no-collect", "do_collect", default=False, help="Collect first.")
@click.option("--no-browser", is_flag=True, help="Print the file:// URL instead of opening it.")
@click.pass_context
def preview(ctx: click.Context, do_collect: bool, no_browser: bool) -> None:
    """Render the next edition from the collected articles (sending nothing) and open it."""
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        if do_collect:
            _collect(config, store)
        report = pipeline.preview(config, store, now=utcnow())
    _print_build(report)
    if "edition.html" in report.paths:
        url = report.paths["edition.html"].resolve().as_uri()
        click.echo(url)
        if not no_browser and not _open_browser(url):
            click.echo("no browser found: open the URL above")


def _open_browser(url: str) -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return webbrowser.open(url)


@click.command()
@click.pass_context
def send(ctx: click.Context) -> None:
    """Deliver the latest edition to every subscriber who has not received it yet."""
    config = config_of(ctx)
    progress = _SendProgress() if sys.stderr.isatty() else None
    with open_store(config.data_dir, url=config.database_url) as store:
        report = pipeline.send(config, store, now=utcnow(), progress=progress)
    if progress:
        progress.clear()
    _print_send(config, report)
    if report.stopped:
        raise DeliveryError(f"{report.stopped}; the rest wait for the next `digest send`")


class _SendProgress:
    """One status line on the terminal, rewritten as recipients are done (10 times a second)."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self._shown = 0.0

    def __call__(self, email: str, status: str) -> None:
        self.statuses[email] = status  # a retried recipient counts once, as it ends
        if time.monotonic() - self._shown >= 0.1:
            self._shown = time.monotonic()
            c = Counter(self.statuses.values())
            click.echo(
                f"\rsending: {len(self.statuses)} done, {c['sent']} sent, {c['deferred']} deferred, "
                f"{c['failed']} failed, {c['skipped']} skipped",
                nl=False,
                err=True,
            )

    def clear(self) -> None:
        click.echo("\r\x1b[K", nl=False, err=True)


def _print_send(config: Config, report: pipeline.SendReport) -> None:
    for problem in report.problems:
        click.echo(f"not delivered: {problem}", err=True)
    c = report.counts
    where = (
        f" to {config.data_dir / 'outbox' / report.edition_key}"
        if config.delivery.transport == "outbox"
        else ""
    )
    click.echo(
        f"edition {report.edition_key}: {c['sent']} sent{where}, {c['deferred']} deferred, "
        f"{c['failed']} failed, {c['skipped']} skipped"
        + (f", {c['unknown']} unknown (no reply to the end of DATA)" if c["unknown"] else "")
    )


@click.command()
@click.argument("edition", required=False)
@click.pass_context
def deliveries(ctx: click.Context, edition: str | None) -> None:
    """Each recipient's delivery state and last server reply for EDITION (default: the latest)."""
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        record = store.edition(edition) if edition else store.latest_edition()
        if record is None:
            raise UsageError(
                f"no edition {edition}" if edition else "no edition yet: run `digest build` first"
            )
        rows = store.deliveries(record.key)
    for d in rows:
        retry = (
            f" (next try {d.next_attempt:%Y-%m-%d %H:%M} UTC)"
            if d.status in ("deferred", "unknown") and d.next_attempt
            else ""
        )
        click.echo(f"{d.status:<9} {d.attempts:>2}  {d.email}  {d.reply}{retry}".rstrip())
    counts: Counter[str] = Counter(d.status for d in rows)
    summary = ", ".join(f"{counts[s]} {s}" for s in DELIVERY_STATES if counts[s])
    click.echo(
        f"edition {record.key}: {len(rows)} recipients" + (f": {summary}" if summary else "")
    )


DELIVERY_STATES = ("sent", "deferred", "failed", "skipped", "unknown", "pending", "sending")


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Build and deliver an edition from the bundled sample news site (served on 127.0.0.1)."""
    from digest.config import bundled_config

    config = load_config(ctx.obj["config_file"] or bundled_config("demo.toml"))
    now = utcnow()
    with (
        open_store(config.data_dir, url=config.database_url) as store,
        demo_site.serve_folder(config.data_dir / "site") as base_url,
    ):
        demo_site.write_site(config.data_dir / "site", base_url=base_url, now=now)
        for email, name in demo_site.SUBSCRIBERS:
            store.add_subscriber(email, name=name, now=now)
        _collect(config, store, now=now)
        report = pipeline.build(config, store, now=now)
        _print_build(report)
        _print_send(config, pipeline.send(config, store, now=now))
    if "edition.html" in report.paths:
        # The site stops with the command; this copy opens its files instead.
        offline = demo_site.offline_copy(
            report.paths["edition.html"],
            base_url=base_url,
            site=config.data_dir / "site",
            to=config.data_dir / "edition.html",
        )
        click.echo(f"open {offline.resolve().as_uri()}")
