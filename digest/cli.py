"""The `digest` command line: thin wrappers that load the config, call the pipeline, print a report.

User errors (DigestError) print one line each, no traceback (unless -v), and
exit 2 for bad usage or config, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import traceback
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from digest import __version__, pipeline
from digest import demo as demo_site
from digest.config import Config, config_path, example_config, load_config
from digest.errors import ConfigError, DigestError, UsageError
from digest.models import FeedResult, Page
from digest.store import open_store

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
    """Fetch every source and store new and updated articles."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        report = pipeline.collect(config, store, now=_now(), progress=_print_feed)
    _print_collect_summary(report)


def _print_feed(result: FeedResult) -> None:
    name = result.state.key
    detail = f"{len(result.articles)} entries" if result.status == "ok" else result.message
    line = f"{result.status:<9} {name}" + (f": {detail}" if detail else "")
    click.echo(line, err=result.status == "failed")


def _print_collect_summary(report: pipeline.CollectReport) -> None:
    for problem in report.page_errors:
        click.echo(f"page failed {problem}", err=True)
    click.echo(
        f"{len(report.results)} sources: {report.count('ok')} fetched, {report.count('unchanged')} unchanged, "
        f"{report.count('skipped')} not due, {report.count('failed')} failed, {report.count('disabled')} disabled; "
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
            _print_collect_summary(
                pipeline.collect(config, store, now=_now(), progress=_print_feed)
            )
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
            _print_collect_summary(
                pipeline.collect(config, store, now=_now(), progress=_print_feed)
            )
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
    with open_store(config.data_dir) as store:
        report = pipeline.send(config, store, now=_now())
    _print_send(config, report)


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
        _print_collect_summary(pipeline.collect(config, store, now=now))
        report = pipeline.build(config, store, now=now)
        _print_build(report)
        _print_send(config, pipeline.send(config, store, now=now))
    if "edition.html" in report.paths:
        click.echo(f"open {report.paths['edition.html'].resolve().as_uri()}")


# --- summarize / extract ---------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.option("-n", "--sentences", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--max-words", type=click.IntRange(1), default=80, show_default=True)
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
    from digest.collect import fetch_pages
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
        page = Page(url="", html=raw.decode("utf-8", errors="replace"))
    click.echo(extract_page(page).text)


# --- subscribers and sources -----------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Add, remove and list subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="Used in the greeting.")
@click.pass_context
def subscribers_add(ctx: click.Context, email: str, name: str) -> None:
    """Subscribe EMAIL (confirmed: it gets the next edition)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise UsageError(f"{email}: not a valid email address: {error}") from None
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
        removed = store.set_subscriber_status(email, "unsubscribed", now=_now())
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


@cli.command()
@click.pass_context
def sources(ctx: click.Context) -> None:
    """Show each source's health: last success, last error, consecutive failures."""
    config = _config(ctx)
    with open_store(config.data_dir) as store:
        states = {s.key: s for s in store.fetch_states()}
    click.echo(f"{'source':<32} {'last success':<17} {'fails':>5}  last error")
    for source in config.sources:
        state = states.get(source.url)
        success = (
            f"{state.last_success:%Y-%m-%d %H:%M}" if state and state.last_success else "never"
        )
        error = (state.disabled or state.last_error) if state else ""
        fails = state.failures if state else 0
        click.echo(f"{source.name[:32]:<32} {success:<17} {fails:>5}  {error}")
