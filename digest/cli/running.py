"""Running digest as a service and checking on it: daemon, run, serve, status, sources."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import click

from digest import logs
from digest.cli.common import config_of, existing_config
from digest.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from digest import daemon as unattended
    from digest.config import Config
    from digest.models import FetchState

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    help="One line per event on stderr: text, or JSON objects for log collectors.",
)


@click.command()
@LOG_FORMAT
@click.pass_context
def daemon(ctx: click.Context, log_format: logs.LogFormat) -> None:
    """Collect every schedule.collect_every; build and send at schedule.send_at. Stop with SIGTERM."""
    from digest import daemon as unattended

    config = config_of(ctx)
    logs.setup(log_format, verbose=ctx.obj["verbose"])
    unattended.Daemon(config).run()


@click.command()
@LOG_FORMAT
@click.pass_context
def run(ctx: click.Context, log_format: logs.LogFormat) -> None:
    """One collect + build + send cycle now (for cron or a systemd timer); safe to repeat."""
    from digest import daemon as unattended

    config = config_of(ctx)
    logs.setup(log_format, verbose=ctx.obj["verbose"])
    if not unattended.run_once(config):
        ctx.exit(1)


@click.command()
@LOG_FORMAT
@click.pass_context
def worker(ctx: click.Context, log_format: logs.LogFormat) -> None:
    """Take jobs from the queue in PostgreSQL (workers.enabled); run any number, anywhere."""
    from digest import cycle, queue
    from digest.store import reserve_connections

    config = config_of(ctx)
    queue.require_database(config, "worker")
    import digest.jobs  # registers the job types
    import digest.pipeline.building  # what the jobs run: imported now, not in the first job
    import digest.pipeline.collecting
    import digest.pipeline.sending
    import digest.summarize  # noqa: F401

    logs.setup(log_format, verbose=ctx.obj["verbose"])
    # A send job's lanes (one connection each) beside the worker's other jobs and its sweep.
    reserve_connections(config.smtp.connections + config.workers.concurrency + 1)
    try:
        queue.work(config, concurrency=config.workers.concurrency)
    finally:
        cycle.stop_page_workers()


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """The data directory and templates in use, the daemon, the last edition, the sources."""
    config = config_of(ctx)
    click.echo(f"config        {config.path.absolute()}")
    templates = (
        f"{config.render.templates}, then the default theme"
        if config.render.templates
        else "the default theme"
    )
    if not config.data_dir.is_dir():
        click.echo(
            f"data          {config.data_dir} (does not exist yet: `digest collect` creates it)"
        )
        click.echo(f"templates     {templates}")
        return
    click.echo(f"data          {config.data_dir}")
    click.echo(f"templates     {templates}")
    from digest import daemon as unattended
    from digest.cycle import key_of, local_time

    found = unattended.status(config)
    when = functools.partial(local_time, config)
    daemon_line = f"running: {found.holder}" if found.holder else "not running"
    click.echo(f"daemon        {daemon_line}")
    if config.database_url:
        click.echo(f"leader        {_leader(found, when)}")
    click.echo(
        "next collect  "
        + (when(found.next_collect) if found.next_collect else "when the daemon runs")
    )
    if found.next_send:
        key = key_of(config, found.next_send)
        suffix = "" if found.holder else " (if the daemon runs)"
        click.echo(f"next send     {when(found.next_send)}, edition {key}{suffix}")
    else:
        click.echo("next send     none: schedule.send_at and schedule.weekdays name no day")
    click.echo(f"last edition  {_last_edition(found)}")
    if found.last_run:
        run = found.last_run
        click.echo(
            f"last run      {run.key}: {run.outcome}" + (f" ({run.detail})" if run.detail else "")
        )
    click.echo("")
    _print_sources(config, found.sources)


def _leader(found: unattended.Status, when: Callable[[datetime], str]) -> str:
    from digest.store import utcnow

    lease = found.leader
    if lease is None:
        return "none yet"
    state = "held until" if lease.expires > utcnow() else "ran out at"
    return f"{lease.holder} (term {lease.term}), {state} {when(lease.expires)}"


def _last_edition(found: unattended.Status) -> str:
    last = found.last_edition
    if last is None:
        return "none yet"
    counts = ", ".join(
        f"{found.deliveries.get(state, 0)} {state}"
        for state in ("sent", "failed", "deferred", "unknown", "pending", "sending", "skipped")
        if state in ("sent", "failed") or found.deliveries.get(state)
    )
    return f"{last.key} (issue {last.number}): {len(last.article_ids)} articles; {counts}"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the archive, the sign-up and unsubscribe pages, the preview and /status over HTTP."""
    from digest import web
    from digest.config import config_path

    site = web.Site(config_path(ctx.obj["config_file"]))
    try:
        server = web.Server(site, host=host, port=port)
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    click.echo(f"serving {site.config.data_dir} on http://{host}:{server.port}/ (Ctrl-C stops)")
    try:
        site.config.require_secret("the unsubscribe and confirmation links")
    except ConfigError as error:
        click.echo(f"warning: {error}: /unsubscribe, /subscribe and /confirm answer 503", err=True)
    server.serve()


@click.command()
@click.pass_context
def sources(ctx: click.Context) -> None:
    """Show each source's health: last success, consecutive failures, last error."""
    from digest.store import open_store

    config = existing_config(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        states = {s.key: s for s in store.fetch_states()}
    _print_sources(config, states)


def _print_sources(config: Config, states: dict[str, FetchState]) -> None:
    click.echo(f"{'source':<32} {'last success':<17} {'fails':>5}  state")
    for source in config.sources:
        state = states.get(source.url)
        success = (
            f"{state.last_success:%Y-%m-%d %H:%M}" if state and state.last_success else "never"
        )
        fails = state.failures if state else 0
        click.echo(f"{source.name[:32]:<32} {success:<17} {fails:>5}  {_source_state(state)}")


def _source_state(state: FetchState | None) -> str:
    """One phrase for a source's state: never fetched, ok, its last error, disabled; and moves."""
    if state is None:
        return "not fetched yet"
    phrase = f"disabled: {state.disabled}" if state.disabled else state.last_error or "ok"
    from digest.store import utcnow

    if state.not_before and state.not_before > utcnow() and not state.disabled:
        phrase += f"; next fetch after {state.not_before:%Y-%m-%d %H:%M} UTC"
    if state.url != state.key:
        phrase += f"; moved permanently to {state.url}"
    return phrase
