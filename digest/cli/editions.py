"""Making and sending editions: collect, build, stories, preview, send, deliveries, demo.

Exit status: 0 when the command did its job, 1 when it did not (no source could be
fetched, recipients were left deferred or failed, nobody to send to), 2 for usage and
config problems.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

import click

from digest.cli.common import config_of, existing_config, require_sources
from digest.errors import DeliveryError, UsageError
from digest.models import DEFAULT_NEWSLETTER

if TYPE_CHECKING:
    from digest import pipeline
    from digest.config import Config
    from digest.models import FeedResult
    from digest.store import Store


@click.command()
@click.pass_context
def collect(ctx: click.Context) -> None:
    """Fetch every source that is due; store new articles and update changed ones."""
    from digest.store import open_store

    config = config_of(ctx)
    require_sources(config)
    with open_store(config.data_dir, url=config.database_url) as store:
        fetched = _collect(config, store)
    if not fetched:
        ctx.exit(1)


def _collect(config: Config, store: Store, *, now: datetime | None = None) -> bool:
    """Collect with a progress bar on a terminal, else one line per source; then a line of counts.

    False (and a line saying so) when not one source could be fetched.
    """
    from digest import pipeline

    names = {s.url: s.name for s in config.sources}
    now = now or pipeline.utcnow()
    with interrupted_by_sigterm():
        report = _collect_with_progress(config, store, names, now=now)
    _print_collect_summary(report)
    if not report.fetched_any:
        click.echo("not one source could be fetched: see the lines above", err=True)
    return report.fetched_any


def _collect_with_progress(
    config: Config, store: Store, names: dict[str, str], *, now: datetime
) -> pipeline.CollectReport:
    from digest import pipeline

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
    from digest import pipeline
    from digest.store import open_store

    config = config_of(ctx) if not no_collect else existing_config(ctx)
    if not no_collect:
        require_sources(config)
    with open_store(config.data_dir, url=config.database_url) as store:
        fetched = no_collect or _collect(config, store)
        reports = pipeline.build_all(config, store, now=pipeline.utcnow())
    for report in reports:
        _print_build(report)
    if not fetched:
        ctx.exit(1)


@click.command()
@click.pass_context
def stories(ctx: click.Context) -> None:
    """Show how the next edition groups, ranks and places the collected articles, and why."""
    from digest import pipeline
    from digest.edition import explain
    from digest.store import open_store

    config = existing_config(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        report = pipeline.stories(config, store, now=pipeline.utcnow())
    if report.why_empty:
        click.echo(report.why_empty)
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
        variants = f"; {report.variants} variants rendered" if report.variants > 1 else ""
        click.echo(
            f"edition {e.key} (issue {e.number}): {len(e.items)} stories, {len(e.more)} in the web edition only"
            + variants
        )
    for name, path in report.paths.items():
        click.echo(f"{name:<13} {path}")


@click.command()
@click.option("--collect/--no-collect", "do_collect", default=False, help="Collect first.")
@click.option("--no-browser", is_flag=True, help="Print the file:// URL instead of opening it.")
@click.pass_context
def preview(ctx: click.Context, do_collect: bool, no_browser: bool) -> None:
    """Render the next edition from the collected articles (sending nothing) and open it."""
    from digest import pipeline
    from digest.store import open_store

    config = config_of(ctx) if do_collect else existing_config(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        if do_collect:
            _collect(config, store)
        report = pipeline.preview(config, store, now=pipeline.utcnow())
    _print_build(report)
    if "edition.html" in report.paths:
        url = report.paths["edition.html"].resolve().as_uri()
        click.echo(url)
        if not no_browser and not _open_browser(url):
            click.echo("no browser found: open the URL above")


def _open_browser(url: str) -> bool:
    import webbrowser

    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return webbrowser.open(url)


@click.command()
@click.option(
    "--to",
    "test_to",
    metavar="ADDRESS",
    help="Send the latest edition to ADDRESS only, as a test: outside the ledger, nobody else.",
)
@click.pass_context
def send(ctx: click.Context, test_to: str | None) -> None:
    """Deliver the latest edition to every subscriber who has not received it yet."""
    from digest import pipeline
    from digest.store import open_store

    config = existing_config(ctx)
    if test_to is not None:
        with open_store(config.data_dir, url=config.database_url) as store:
            key = pipeline.send_test(config, store, test_to, now=pipeline.utcnow())
        click.echo(f"edition {key}: sent to {test_to} as a test (not in the ledger)")
        _print_amiss(config)
        return
    progress = _SendProgress() if sys.stderr.isatty() else None
    with open_store(config.data_dir, url=config.database_url) as store:
        reports = pipeline.send_all(config, store, now=pipeline.utcnow(), progress=progress)
        recipients = [len(store.deliveries(r.edition_key)) for r in reports]
    if progress:
        progress.clear()
    for report in reports:
        _print_send(config, report)
    for report in reports:
        if report.stopped:
            raise DeliveryError(f"{report.stopped}; the rest wait for the next `digest send`")
    _print_amiss(config)
    if any(recipients[1:]):  # readers moved to other newsletters: the default may have none
        recipients[0] = recipients[0] or 1
    fine = [_sent_as_it_should(r, n) for r, n in zip(reports, recipients, strict=True)]
    if not all(fine):
        ctx.exit(1)


def _sent_as_it_should(report: pipeline.SendReport, recipients: int) -> bool:
    """False, with a line saying why, when the send left somebody without the edition."""
    c = report.counts
    if not recipients:
        click.echo(
            f"edition {report.edition_key}: nobody to send it to: no confirmed subscribers "
            "(`digest subscribers add EMAIL`; `digest status` shows the data directory in use)",
            err=True,
        )
        return False
    if c["deferred"] or c["failed"]:
        click.echo(
            f"edition {report.edition_key}: {c['deferred']} deferred (a later `digest send` "
            f"retries them), {c['failed']} failed (`digest deliveries` shows why)",
            err=True,
        )
        return False
    return True


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


def _print_amiss(config: Config) -> None:
    """Over SMTP, one line naming what `digest check` finds amiss (nothing when all is well)."""
    if config.delivery.transport != "smtp":
        return
    from digest.preflight import findings

    amiss = [f.topic for f in findings(config) if f.level != "ok"]
    if amiss:
        click.echo(f"check: {', '.join(amiss)}: see `digest check`", err=True)


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
    from digest.newsletters import pattern_of
    from digest.store import open_store

    config = existing_config(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        latest = store.latest_edition(series=pattern_of(config))
        record = store.edition(edition) if edition else latest
        if record is None:
            raise UsageError(
                f"no edition {edition}" if edition else "no edition yet: run `digest build` first"
            )
        rows = store.deliveries(record.key)
        compacted = store.compacted_counts(record.key) if not rows else {}
    for d in rows:
        retry = (
            f" (next try {d.next_attempt:%Y-%m-%d %H:%M} UTC)"
            if d.status in ("deferred", "unknown") and d.next_attempt
            else ""
        )
        click.echo(f"{d.status:<9} {d.attempts:>2}  {d.email}  {d.reply}{retry}".rstrip())
    if compacted:
        click.echo("older than delivery.keep_ledger: only the counts per state are kept")
    counts: Counter[str] = Counter(d.status for d in rows) + Counter(compacted)
    total = sum(counts.values())
    summary = ", ".join(f"{counts[s]} {s}" for s in DELIVERY_STATES if counts[s])
    click.echo(f"edition {record.key}: {total} recipients" + (f": {summary}" if summary else ""))


DELIVERY_STATES = ("sent", "deferred", "failed", "skipped", "unknown", "pending", "sending")


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Build and deliver an edition from the bundled sample news site (served on 127.0.0.1)."""
    from pathlib import Path

    from digest import demo as demo_site
    from digest import pipeline
    from digest.addresses import address_key
    from digest.config import bundled_config, load_config
    from digest.store import open_store

    # The bundled config's data_dir is the current directory's .digest-demo, not a folder
    # beside the installed config file.
    overrides = {} if ctx.obj["config_file"] else {"data_dir": str(Path.cwd() / ".digest-demo")}
    config = load_config(ctx.obj["config_file"] or bundled_config("demo.toml"), overrides=overrides)
    if not ctx.obj["config_file"]:
        demo_site.write_config(config.data_dir)
    now = pipeline.utcnow()
    with demo_site.serve_folder(config.data_dir / "site") as base_url:
        config = demo_site.pointed_at(config, base_url)
        with open_store(config.data_dir, url=config.database_url) as store:
            demo_site.write_site(config.data_dir / "site", base_url=base_url, now=now)
            for email, name in demo_site.SUBSCRIBERS:
                store.add_subscriber(email, name=name, now=now)
                chosen = demo_site.MEMBERSHIPS.get(email)
                if chosen and not store.stored_memberships().get(address_key(email)):
                    store.set_memberships(email, chosen, now=now)
            _collect(config, store, now=now)
            reports = pipeline.build_all(config, store, now=now)
            for built in reports:
                _print_build(built)
            for sent in pipeline.send_all(config, store, now=now):
                _print_send(config, sent)
            report = reports[0]
    if not ctx.obj["config_file"]:
        click.echo(f"config        {config.data_dir / demo_site.CONFIG} (for `digest --config`)")
    if "edition.html" in report.paths:
        # The site stops with the command; this copy opens its files instead.
        offline = demo_site.offline_copy(
            report.paths["edition.html"],
            base_url=base_url,
            site=config.data_dir / "site",
            to=config.data_dir / "edition.html",
        )
        click.echo(f"open {offline.resolve().as_uri()}")


@click.command()
@click.option("--limit", default=20, show_default=True, help="How many editions, newest first.")
@click.pass_context
def editions(ctx: click.Context, limit: int) -> None:
    """List the editions: newsletter, daily or weekly, issue, subject, and each variant rendered
    with how many readers it was planned for."""
    from digest.store import open_store

    config = existing_config(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        newest = sorted(store.editions(), key=lambda r: r.number, reverse=True)
        for record in newest[:limit]:
            slug, _, day = record.key.rpartition("/")
            frequency = "weekly" if "-W" in day else "daily"
            click.echo(
                f"{record.key}\t{slug or DEFAULT_NEWSLETTER}\t{frequency}\tissue {record.number}"
                f"\t{record.email.subject}"
            )
            counts = store.variant_counts(record.key)
            for name in ["", *store.edition_variants(record.key)]:
                shown = name or "(all sections, its language)"
                click.echo(f"  variant {shown}: {counts.get(name, 0)} readers")
