"""The commands about mail reaching inboxes: check (before sending) and bounces (after)."""

from __future__ import annotations

import click

from digest.cli.common import config_of
from digest.errors import UsageError


@click.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """What the big mailbox providers ask of a bulk sender, and the DNS records to publish.

    Exits 1 when something is an error (no base_url, no secret), 0 otherwise.
    """
    from digest.deliver import dkim_public_key
    from digest.preflight import dns_records, findings

    config = config_of(ctx)
    results = findings(config)
    for finding in results:
        click.echo(finding.line())
    click.echo("\nDNS records to publish:")
    for record in dns_records(config, dkim_public_key=dkim_public_key(config)):
        click.echo(f"  {record}")
    if any(f.level == "error" for f in results):
        ctx.exit(1)


@click.command()
@click.option(
    "--mailbox",
    "location",
    default=None,
    help="A maildir folder, an mbox file or imaps://USER@HOST/FOLDER [default: bounces.mailbox].",
)
@click.option("--list", "show_list", is_flag=True, help="List the suppressed addresses and stop.")
@click.pass_context
def bounces(ctx: click.Context, location: str | None, show_list: bool) -> None:
    """Read bounces and complaint reports; suppress hard bounces, complaints and repeated soft ones.

    Suppressed addresses get no more mail (send, import and sign-up honour the list).
    """
    import os

    from digest.mailboxes import open_reports
    from digest.pipeline.bouncing import read_bounces
    from digest.store import open_store, utcnow

    config = config_of(ctx)
    with open_store(config.data_dir, url=config.database_url) as store:
        if show_list:
            for row in store.suppressions():
                click.echo(f"{row.created[:10]}  {row.reason:<12} {row.email}  {row.detail}")
            return
        location = location or config.bounces.mailbox
        if not location:
            raise UsageError("no mailbox: set bounces.mailbox or pass --mailbox")
        if not config.bounces.address:
            raise UsageError("bounces.address is not set: no message carries a return path to read")
        password = os.environ.get(config.bounces.password_env, "")
        with open_reports(location, password=password, ca_file=config.smtp.ca_file) as source:
            report = read_bounces(config, store, source, now=utcnow())
    for line in report.lines:
        click.echo(line)
    c = report.counts
    click.echo(
        f"{c['read']} messages: {c['hard']} hard bounces, {c['soft']} soft, "
        f"{c['complaint']} complaints, {c['suppressed']} newly suppressed; "
        f"{c['already']} read before, {c['ignored']} not reports, {c['unknown']} for nobody known"
    )
