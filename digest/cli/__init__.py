"""The `digest` command line: thin wrappers that load the config, call the pipeline, print a report.

User errors (DigestError) print one line each, no traceback (unless -v), and
exit 2 for bad usage or config, 1 otherwise.

The group and main() are here; the commands, by family, in
:mod:`~digest.cli.editions` (collect, build, stories, preview, send, deliveries, demo),
:mod:`~digest.cli.audience` (subscribers), :mod:`~digest.cli.running` (daemon, run, serve,
status, sources) and :mod:`~digest.cli.standalone` (init, summarize, extract).
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime
from pathlib import Path

import click

from digest import __version__
from digest.cli.audience import subscribers
from digest.cli.editions import (
    build,
    collect,
    deliveries,
    demo,
    editions,
    preview,
    send,
    stories,
)
from digest.cli.mail import bounces, check
from digest.cli.running import daemon, run, serve, sources, status
from digest.cli.standalone import extract, init, summarize
from digest.errors import ConfigError, DigestError, UsageError

__all__ = [
    "bounces",
    "build",
    "check",
    "cli",
    "collect",
    "daemon",
    "deliveries",
    "demo",
    "extract",
    "init",
    "main",
    "preview",
    "run",
    "send",
    "serve",
    "sources",
    "status",
    "stories",
    "subscribers",
    "summarize",
]

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


for command in (
    init,
    collect,
    build,
    stories,
    preview,
    send,
    demo,
    serve,
    summarize,
    extract,
    subscribers,
    deliveries,
    editions,
    sources,
    daemon,
    run,
    status,
    check,
    bounces,
):
    cli.add_command(command)


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
