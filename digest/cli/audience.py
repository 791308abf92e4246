"""Who gets the newsletter: digest subscribers add, remove, list, import and export."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest import subscriptions
from digest.cli.common import config_of
from digest.errors import UsageError
from digest.store import open_store, utcnow


@click.group()
def subscribers() -> None:
    """Add, remove, list, import and export subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="Used in the greeting.")
@click.pass_context
def subscribers_add(ctx: click.Context, email: str, name: str) -> None:
    """Subscribe EMAIL (confirmed: it gets the next edition)."""
    address = subscriptions.valid_address(email)
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        added = store.add_subscriber(address, name=name, now=utcnow())
    click.echo(f"{'added' if added else 'already subscribed'}: {address}")


@subscribers.command("remove")
@click.argument("email")
@click.pass_context
def subscribers_remove(ctx: click.Context, email: str) -> None:
    """Unsubscribe EMAIL."""
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        removed = subscriptions.unsubscribe(store, email.strip(), now=utcnow())
    if not removed:
        raise UsageError(f"{email}: not a current subscriber")
    click.echo(f"unsubscribed: {email}")


@subscribers.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include pending and unsubscribed addresses.")
@click.pass_context
def subscribers_list(ctx: click.Context, show_all: bool) -> None:
    """List confirmed subscribers."""
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
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
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        report = subscriptions.import_csv(store, file, now=utcnow())
    for problem in report.problems:
        click.echo(f"skipped {problem}", err=True)
    click.echo(
        f"{file}: {report.added} added, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.kept_unsubscribed} kept unsubscribed, "
        + (f"{report.suppressed} suppressed (bounced or complained), " if report.suppressed else "")
        + f"{len(report.problems)} invalid"
    )


@subscribers.command("export")
@click.option("--all", "show_all", is_flag=True, help="Include pending and unsubscribed addresses.")
@click.pass_context
def subscribers_export(ctx: click.Context, show_all: bool) -> None:
    """Write subscribers as CSV (email,name,status,created) to standard output."""
    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        rows = store.subscribers(status=None if show_all else "confirmed")
    subscriptions.export_csv(rows, sys.stdout)
