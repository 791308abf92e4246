"""Who gets the newsletter: digest subscribers add, remove, list, import, export and set."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from digest.cli.common import config_of, existing_config
from digest.errors import UsageError
from digest.models import Membership, Offer


@click.group()
def subscribers() -> None:
    """Add, remove, list, import and export subscribers; set their choices."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="Used in the greeting.")
@click.pass_context
def subscribers_add(ctx: click.Context, email: str, name: str) -> None:
    """Subscribe EMAIL (confirmed: it gets the next edition)."""
    from digest import subscriptions
    from digest.store import open_store, utcnow

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
    from digest import subscriptions
    from digest.store import open_store, utcnow

    config = existing_config(ctx)
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
    from digest.store import open_store

    config = existing_config(ctx)
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
    from digest import subscriptions
    from digest.store import open_store, utcnow

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
    from digest import subscriptions
    from digest.store import open_store

    config = existing_config(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        rows = store.subscribers(status=None if show_all else "confirmed")
    subscriptions.export_csv(rows, sys.stdout)


@subscribers.command("set")
@click.argument("email")
@click.option("--newsletter", "slug", default="", help="Which newsletter (default: the first).")
@click.option("--sections", default=None, help="Comma-separated sections; 'all' for every one.")
@click.option("--frequency", type=click.Choice(["daily", "weekly"]), default=None)
@click.option(
    "--send-time", default=None, help="HH:MM in their time zone; '' for the newsletter's."
)
@click.option("--timezone", default=None, help="IANA time zone; '' for the newsletter's.")
@click.option("--language", default=None, help="One the newsletter offers; '' for its own.")
@click.option("--leave", is_flag=True, help="Take them out of this newsletter.")
@click.pass_context
def subscribers_set(
    ctx: click.Context,
    email: str,
    slug: str,
    sections: str | None,
    frequency: str | None,
    send_time: str | None,
    timezone: str | None,
    language: str | None,
    leave: bool,
) -> None:
    """Change EMAIL's choices in one newsletter (or add it to one); counts from the next edition."""
    from digest import newsletters
    from digest.store import open_store, utcnow

    config = existing_config(ctx)
    offers = {offer.slug: offer for offer in newsletters.offers(config)}
    offer = offers.get(slug or next(iter(offers)))
    if offer is None:
        raise UsageError(f"--newsletter {slug}: expected one of {', '.join(offers)}")
    with open_store(config.data_dir, url=config.database_url) as store:
        if store.subscriber(email) is None:
            raise UsageError(f"{email}: not a subscriber (`digest subscribers add {email}`)")
        chosen = {m.newsletter: m for m in store.memberships(email)}
        if leave:
            chosen.pop(offer.slug, None)
        else:
            changes = _changes(
                offer,
                sections=sections,
                frequency=frequency,
                send_time=send_time,
                timezone=timezone,
                language=language,
            )
            before = chosen.get(offer.slug, newsletters.Membership(offer.slug))
            chosen[offer.slug] = replace(before, **changes)
        store.set_memberships(email, list(chosen.values()), now=utcnow())
        for m in store.memberships(email):
            click.echo(f"{email}\t{describe(m)}")


def describe(m: Membership) -> str:
    """One membership on one line: newsletter, frequency, sections, time, zone, language."""
    return "\t".join(
        (
            m.newsletter,
            m.frequency,
            ",".join(m.sections) or "all sections",
            m.send_time or "its send time",
            m.timezone or "its time zone",
            m.language or "its language",
        )
    )


def _changes(offer: Offer, **given: str | None) -> dict[str, Any]:
    """The options given, checked against what the newsletter offers (UsageError naming one)."""
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if "sections" in changes:
        names = [s.strip() for s in changes["sections"].split(",") if s.strip()]
        names = [] if names == ["all"] else names
        unknown = [n for n in names if n not in offer.sections]
        if unknown:
            raise UsageError(
                f"--sections {unknown[0]}: expected sections of {offer.slug}: {', '.join(offer.sections)}"
            )
        changes["sections"] = tuple(names)
    if changes.get("send_time") and not re.fullmatch(
        r"([01]\d|2[0-3]):[0-5]\d", changes["send_time"]
    ):
        raise UsageError(f"--send-time {changes['send_time']}: expected HH:MM, e.g. 07:00")
    if changes.get("timezone"):
        from digest.config import checks

        if checks.timezone(changes["timezone"]):
            raise UsageError(
                f"--timezone {changes['timezone']}: expected an IANA time zone such as 'Asia/Tokyo'"
            )
    if changes.get("language") and changes["language"] not in offer.languages:
        raise UsageError(
            f"--language {changes['language']}: expected one of {', '.join(offer.languages)}"
        )
    return changes
