"""Running digest as a service and checking on it: daemon, run, serve, status, sources."""

from __future__ import annotations

import functools

import click

from digest import daemon as unattended
from digest import logs
from digest.cli.common import config_of
from digest.config import Config, config_path
from digest.cycle import key_of, local_time
from digest.errors import ConfigError, UsageError
from digest.models import FetchState
from digest.store import open_store, utcnow

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
    config = config_of(ctx)
    logs.setup(log_format, verbose=ctx.obj["verbose"])
    unattended.Daemon(config).run()


@click.command()
@LOG_FORMAT
@click.pass_context
def run(ctx: click.Context, log_format: logs.LogFormat) -> None:
    """One collect + build + send cycle now (for cron or a systemd timer); safe to repeat."""
    config = config_of(ctx)
    logs.setup(log_format, verbose=ctx.obj["verbose"])
    unattended.run_once(config)


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """The daemon, its next collect and send, the last edition, and each source's health."""
    config = config_of(ctx)
    found = unattended.status(config)
    when = functools.partial(local_time, config)
    daemon_line = f"running: {found.holder}" if found.holder else "not running"
    click.echo(f"daemon        {daemon_line}")
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
    config = config_of(ctx)
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
    if state.not_before and state.not_before > utcnow() and not state.disabled:
        phrase += f"; next fetch after {state.not_before:%Y-%m-%d %H:%M} UTC"
    if state.url != state.key:
        phrase += f"; moved permanently to {state.url}"
    return phrase
