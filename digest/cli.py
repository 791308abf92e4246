"""The `digest` command line: thin wrappers that load the config, call the pipeline, print a report.

User errors (DigestError) print one line each, no traceback (unless -v), and
exit 2 for bad usage or config, 1 otherwise.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
import webbrowser
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from digest import __version__, logs, pipeline, subscriptions
from digest import daemon as unattended
from digest import demo as demo_site
from digest.config import Config, config_path, example_config, load_config
from digest.cycle import key_of, local_time
from digest.errors import ConfigError, DeliveryError, DigestError, UsageError
from digest.models import FeedResult, FetchState, Page
from digest.store import Store, open_store

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file [default: $DIGEST_CONFIG or config/digest.toml].",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, verbose: bool) -> None:
    """Collect news feeds, summarize each article, and send a daily newsletter."""
    ctx.obj = {"config_file": config_file, "verbose": verbose}


def main() -> None:
    """Entry point: run the CLI, turning DigestError into one line and an exit code."""
    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        _travel_in_time()
        code = cli.main(prog_name="digest", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except ConfigError as error:
        # Each problem already starts with the file's name: FILE: key: expected X, got Y.
        for problem in error.problems:
            click.echo(problem, err=True)
        sys.exit(error.exit_code)
    except DigestError as error:
        if verbose:
            traceback.print_exc()
        click.echo(f"digest: error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


FAKE_NOW_ENV = "DIGEST_FAKE_NOW"


def _travel_in_time() -> None:
    """For digest's own tests only: the clock starts at $DIGEST_FAKE_NOW (ISO 8601) and ticks on.

    The scheduler's send times are whole minutes; this lets a test start a real daemon a
    few seconds before one. Every clock in the process moves (APScheduler's included), via
    the time-machine package, which only the test extra installs.
    """
    fake_now = os.environ.get(FAKE_NOW_ENV)
    if not fake_now:
        return
    try:
        import time_machine

        moment = datetime.fromisoformat(fake_now)
    except ImportError:
        raise UsageError(
            f"{FAKE_NOW_ENV} is for digest's tests: pip install -e '.[test]'"
        ) from None
    except ValueError:
        raise UsageError(f"{FAKE_NOW_ENV}: expected an ISO 8601 time, got {fake_now!r}") from None
    time_machine.travel(moment, tick=True).start()


def _config(ctx: click.Context) -> Config:
    return load_config(config_path(ctx.obj["config_file"]))


def _now() -> datetime:
    return datetime.now(UTC)


# --- init ------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Create DIRECTORY/config/digest.toml and DIRECTORY/templates/ to start from."""
    config_file = directory / "config" / "digest.toml"
    template = directory / "templates" / "edition.html"
    existing = [p for p in (config_file, template) if p.exists()]
    if existing:
        raise UsageError(f"{existing[0]}: already exists; not overwriting it")
    config_file.parent.mkdir(parents=True, exist_ok=True)
    template.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(
        example_config().replace('templates = ""', 'templates = "templates"'), encoding="utf-8"
    )
    template.write_text(STARTER_TEMPLATE, encoding="utf-8")
    click.echo(f"created {config_file}")
    click.echo(f"created {template}")
    click.echo(f"next: add your feeds to {config_file}, then run `digest build` in {directory}")


STARTER_TEMPLATE = """\
{#- Your theme. Templates here are found before digest's default theme, and any
    default template stays reachable as "default/NAME". Override only the blocks
    you want: style, header, content, footer (see default/base.html). -#}
{% extends "default/edition.html" %}
{% block style %}
{{ super() }}
.name { color: #14213d; }
{% endblock %}
"""


# --- collect / build / preview / send --------------------------------------------------------


@cli.command()
@click.pass_context
def collect(ctx: click.Context) -> None:
    """Fetch every source that is due; store new articles and update changed ones."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        _collect(config, store)


def _collect(config: Config, store: Store, *, now: datetime | None = None) -> None:
    """Collect with a progress bar on a terminal, else one line per source; then a line of counts."""
    names = {s.url: s.name for s in config.sources}
    now = now or _now()
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
    _print_collect_summary(report)


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


@cli.command()
@click.option("--no-collect", is_flag=True, help="Build from what is already collected.")
@click.pass_context
def build(ctx: click.Context, no_collect: bool) -> None:
    """Collect, summarize and render today's edition; print where its files are."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        if not no_collect:
            _collect(config, store)
        report = pipeline.build(config, store, now=_now())
    _print_build(report)


@cli.command()
@click.pass_context
def stories(ctx: click.Context) -> None:
    """Show how the next edition groups, ranks and places the collected articles, and why."""
    from digest.edition import explain

    config = _config(ctx)
    with open_store(config.data_dir) as store:
        report = pipeline.stories(config, store, now=_now())
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


@cli.command()
@click.option("--collect/--no-collect", "do_collect", default=False, help="Collect first.")
@click.option("--no-browser", is_flag=True, help="Print the file:// URL instead of opening it.")
@click.pass_context
def preview(ctx: click.Context, do_collect: bool, no_browser: bool) -> None:
    """Render the next edition from the collected articles (sending nothing) and open it."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        if do_collect:
            _collect(config, store)
        report = pipeline.preview(config, store, now=_now())
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


@cli.command()
@click.pass_context
def send(ctx: click.Context) -> None:
    """Deliver the latest edition to every subscriber who has not received it yet."""
    config = _config(ctx)
    progress = _SendProgress() if sys.stderr.isatty() else None
    with open_store(config.data_dir) as store:
        report = pipeline.send(config, store, now=_now(), progress=progress)
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
    )


# --- demo ------------------------------------------------------------------------------------


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Build and deliver an edition from the bundled sample news site (served on 127.0.0.1)."""
    from digest.config import bundled_config

    config = load_config(ctx.obj["config_file"] or bundled_config("demo.toml"))
    now = _now()
    with (
        open_store(config.data_dir) as store,
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
        click.echo(f"open {report.paths['edition.html'].resolve().as_uri()}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the editions (latest, archive, text, .eml) over HTTP."""
    from digest import serve as web

    site = web.Site(config_path(ctx.obj["config_file"]))
    try:
        server = web.make(site, host=host, port=port)
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    click.echo(
        f"serving {site.config.data_dir} on http://{host}:{server.server_port}/ (Ctrl-C stops)"
    )
    try:
        site.config.require_secret("the unsubscribe and confirmation links")
    except ConfigError as error:
        click.echo(f"warning: {error}: /unsubscribe, /subscribe and /confirm answer 503", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


# --- summarize / extract ---------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.option("-n", "--sentences", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--max-words", type=click.IntRange(1), default=90, show_default=True)
@click.option(
    "--method",
    type=click.Choice(sorted(["news", "lead", "lexrank", "textrank", "lsa", "luhn", "sumbasic"])),
    default="news",
    show_default=True,
)
@click.option("--title", default="", help="The headline, which helps pick the sentences.")
@click.option("--language", default="", help="Language code or name; detected when omitted.")
@click.option(
    "--jsonl", is_flag=True, help='Read lines {"id", "text", "title"?}; write {"id", "summary"}.'
)
def summarize(
    file: Any, sentences: int, max_words: int, method: str, title: str, language: str, jsonl: bool
) -> None:
    """Print a summary of FILE (or standard input)."""
    from digest.summarize import Settings, language_name, summarize_text

    settings = Settings(sentences=sentences, max_words=max_words, method=method)
    if not jsonl:
        text = file.read()
        click.echo(
            " ".join(
                summarize_text(
                    text, title=title, language=language_name(language, text), settings=settings
                )
            )
        )
        return
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text, key = str(record["text"]), record["id"]
        except (ValueError, KeyError, TypeError):
            raise UsageError(
                f"{file.name}:{number}: expected a JSON object with 'id' and 'text'"
            ) from None
        summary = summarize_text(
            text,
            title=str(record.get("title") or ""),
            language=language_name(language, text),
            settings=settings,
        )
        click.echo(json.dumps({"id": key, "summary": " ".join(summary)}, ensure_ascii=False))


@cli.command()
@click.argument("source")
def extract(source: str) -> None:
    """Print the main text of an article page (a file or an http(s) URL)."""
    from digest.collect import decode_html, fetch_pages
    from digest.config import CollectConfig
    from digest.extract import extract_page

    if source.startswith(("http://", "https://")):
        page = fetch_pages([source], CollectConfig())[source]
        if not isinstance(page, Page):
            raise UsageError(f"{source}: {page}")
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as error:
            raise UsageError(f"{source}: cannot read: {error.strerror}") from None
        page = Page(url="", html=decode_html(raw))
    click.echo(extract_page(page).text)


# --- subscribers and sources -----------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Add, remove, list, import and export subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="Used in the greeting.")
@click.pass_context
def subscribers_add(ctx: click.Context, email: str, name: str) -> None:
    """Subscribe EMAIL (confirmed: it gets the next edition)."""
    address = subscriptions.valid_address(email)
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        added = store.add_subscriber(address, name=name, now=_now())
    click.echo(f"{'added' if added else 'already subscribed'}: {address}")


@subscribers.command("remove")
@click.argument("email")
@click.pass_context
def subscribers_remove(ctx: click.Context, email: str) -> None:
    """Unsubscribe EMAIL."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        removed = subscriptions.unsubscribe(store, email.strip(), now=_now())
    if not removed:
        raise UsageError(f"{email}: not a current subscriber")
    click.echo(f"unsubscribed: {email}")


@subscribers.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include pending and unsubscribed addresses.")
@click.pass_context
def subscribers_list(ctx: click.Context, show_all: bool) -> None:
    """List confirmed subscribers."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        for s in store.subscribers(status=None if show_all else "confirmed"):
            click.echo(f"{s.email}\t{s.status}\t{s.name}")


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def subscribers_import(ctx: click.Context, file: Path) -> None:
    """Add the addresses in a CSV FILE: email[,name[,status]], with or without a header row.

    They are added as confirmed (or with the row's status). An address that unsubscribed
    is never subscribed again by an import. Invalid rows are reported and skipped.
    """
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        report = subscriptions.import_csv(store, file, now=_now())
    for problem in report.problems:
        click.echo(f"skipped {problem}", err=True)
    click.echo(
        f"{file}: {report.added} added, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.kept_unsubscribed} kept unsubscribed, {len(report.problems)} invalid"
    )


@subscribers.command("export")
@click.option("--all", "show_all", is_flag=True, help="Include pending and unsubscribed addresses.")
@click.pass_context
def subscribers_export(ctx: click.Context, show_all: bool) -> None:
    """Write subscribers as CSV (email,name,status,created) to standard output."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        rows = store.subscribers(status=None if show_all else "confirmed")
    subscriptions.export_csv(rows, sys.stdout)


@cli.command()
@click.argument("edition", required=False)
@click.pass_context
def deliveries(ctx: click.Context, edition: str | None) -> None:
    """Each recipient's delivery state and last server reply for EDITION (default: the latest)."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        record = store.edition(edition) if edition else store.latest_edition()
        if record is None:
            raise UsageError(
                f"no edition {edition}" if edition else "no edition yet: run `digest build` first"
            )
        rows = store.deliveries(record.key)
    for d in rows:
        retry = (
            f" (next try {d.next_attempt:%Y-%m-%d %H:%M} UTC)"
            if d.status == "deferred" and d.next_attempt
            else ""
        )
        click.echo(f"{d.status:<9} {d.attempts:>2}  {d.email}  {d.reply}{retry}".rstrip())
    counts: Counter[str] = Counter(d.status for d in rows)
    summary = ", ".join(f"{counts[s]} {s}" for s in DELIVERY_STATES if counts[s])
    click.echo(
        f"edition {record.key}: {len(rows)} recipients" + (f": {summary}" if summary else "")
    )


DELIVERY_STATES = ("sent", "deferred", "failed", "skipped", "pending", "sending")


@cli.command()
@click.pass_context
def sources(ctx: click.Context) -> None:
    """Show each source's health: last success, consecutive failures, last error."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
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
    if state.not_before and state.not_before > _now() and not state.disabled:
        phrase += f"; next fetch after {state.not_before:%Y-%m-%d %H:%M} UTC"
    if state.url != state.key:
        phrase += f"; moved permanently to {state.url}"
    return phrase


# --- daemon / run / status -------------------------------------------------------------------

LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    help="One line per event on stderr: text, or JSON objects for log collectors.",
)


@cli.command()
@LOG_FORMAT
@click.pass_context
def daemon(ctx: click.Context, log_format: logs.LogFormat) -> None:
    """Collect every schedule.collect_every; build and send at schedule.send_at. Stop with SIGTERM."""
    config = _config(ctx)
    logs.setup(log_format, verbose=ctx.obj["verbose"])
    unattended.Daemon(config).run()


@cli.command()
@LOG_FORMAT
@click.pass_context
def run(ctx: click.Context, log_format: logs.LogFormat) -> None:
    """One collect + build + send cycle now (for cron or a systemd timer); safe to repeat."""
    config = _config(ctx)
    logs.setup(log_format, verbose=ctx.obj["verbose"])
    unattended.run_once(config)


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """The daemon, its next collect and send, the last edition, and each source's health."""
    config = _config(ctx)
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
        for state in ("sent", "failed", "deferred", "pending", "sending", "skipped")
        if state in ("sent", "failed") or found.deliveries.get(state)
    )
    return f"{last.key} (issue {last.number}): {len(last.article_ids)} articles; {counts}"
