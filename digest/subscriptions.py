"""Subscribers: who may join and leave, and how, by themselves or through the CLI.

Sign-up is double opt-in: the form records nothing until a confirmation mail
with a signed link has gone out (through the configured transport), and only
a confirmed address gets editions. Unsubscribing takes one click: the
List-Unsubscribe URL in every edition carries a token signed with HMAC
(digest/tokens.py), so neither a cookie nor a login is needed. A GET only
shows a page with a button (link scanners open links); a POST acts, which is
what mailbox providers send for RFC 8058 one-click.

The web pages here are registered in digest/serve.py's ROUTES.
"""

from __future__ import annotations

import csv
import functools
import html
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from email_validator import EmailNotValidError, validate_email

from digest import deliver, tokens
from digest.config import Config
from digest.errors import ConfigError, DeliveryError, PermanentFailure, UsageError
from digest.store import Store, Subscriber, utcnow

if TYPE_CHECKING:
    from digest.serve import Handler, Request, Response, Site

log = logging.getLogger("digest.serve")

STATUSES = ("confirmed", "pending", "unsubscribed")
RESEND_AFTER = timedelta(minutes=10)
"""A second sign-up of a pending address sooner than this sends no second mail."""


class InvalidAddress(UsageError):
    pass


def valid_address(text: str) -> str:
    """The address, normalized; InvalidAddress saying why it is not one (no DNS look-up)."""
    try:
        return str(validate_email(text.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as error:
        raise InvalidAddress(f"{text.strip()}: not a valid email address: {error}") from None


# --- sign-up, confirmation, unsubscribing ----------------------------------------------------


def sign_up(
    config: Config,
    store: Store,
    address: str,
    *,
    name: str = "",
    now: datetime,
    transport: deliver.Transport | None = None,
) -> str:
    """Mail ``address`` a confirmation link, then record it as pending; return what happened.

    'mailed', or 'subscribed' / 'recent' when no mail was needed (already confirmed, or a
    link went out less than RESEND_AFTER ago). Raises DeliveryError when the mail could not go.
    """
    base_url = _base_url(config, "the confirmation link")
    secret = config.require_secret("the confirmation links")
    known = store.subscriber(address)
    if known is not None and known.status == "confirmed":
        return "subscribed"
    recently = known is not None and known.updated and now - known.updated < RESEND_AFTER
    if known is not None and known.status == "pending" and recently:
        return "recent"
    link = f"{base_url}/confirm?t={tokens.sign(address, 'confirm', secret)}"
    data = deliver.compose_notice(
        subject=f"Confirm your subscription to {config.newsletter.name}",
        text=CONFIRMATION.format(newsletter=config.newsletter.name, address=address, link=link),
        to=address,
        newsletter=config.newsletter,
        now=now,
    )
    signer = deliver.make_signer(config)
    transport = transport or deliver.make_transport(config)
    try:
        transport.send(
            deliver.Outgoing(
                sender=deliver.ascii_domain(config.newsletter.from_address),
                recipient=deliver.ascii_domain(address),
                data=signer.sign(data) if signer else data,
                batch="confirmations",
            )
        )
    finally:
        transport.close()
    store.record_signup(address, name=name, now=now)
    return "mailed"


CONFIRMATION = """\
Please confirm that you want to receive {newsletter}.

Someone, we hope you, asked for {newsletter} to be sent to {address}.
To confirm, open this link and press the button on the page:

{link}

If you did not ask for it, ignore this message: you will not be subscribed
and will not hear from us again.
"""


def confirm(store: Store, address: str, *, now: datetime) -> str:
    """Confirm a sign-up; return 'confirmed', 'already', or 'left' (unsubscribed since)."""
    known = store.subscriber(address)
    if known is not None and known.status == "confirmed":
        return "already"
    if known is not None and known.status == "unsubscribed":
        return "left"
    store.add_subscriber(address, status="confirmed", now=now)
    return "confirmed"


def unsubscribe(store: Store, address: str, *, now: datetime) -> bool:
    """Unsubscribe ``address``; False when it was not subscribed."""
    return store.set_subscriber_status(address, "unsubscribed", now=now)


def _base_url(config: Config, used_for: str) -> str:
    if not config.newsletter.base_url:
        raise ConfigError(
            [
                f"{config.path}: newsletter.base_url: expected the public URL of digest serve for {used_for}, got ''"
            ]
        )
    return config.newsletter.base_url.rstrip("/")


# --- import and export -----------------------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    kept_unsubscribed: int = 0
    """Addresses that had unsubscribed: an import never subscribes them again."""
    suppressed: int = 0
    """Addresses on the suppression list (bounced or complained): left out."""
    problems: list[str] = field(default_factory=list)


def import_csv(store: Store, path: Path, *, now: datetime) -> ImportReport:
    """Add the addresses in a CSV file (email[,name[,status]], header optional) as confirmed."""
    report = ImportReport()
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            for line, (email, name, status) in _rows(csv.reader(file), path):
                try:
                    _import_one(store, valid_address(email), name, status, report, now)
                except UsageError as error:
                    report.problems.append(f"{path}:{line}: {error}")
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{path}: cannot read the CSV file: {error}") from None
    return report


def _rows(reader: Iterable[list[str]], path: Path) -> Iterator[tuple[int, tuple[str, str, str]]]:
    """(line, (email, name, status)) per non-empty row; a header row names the columns."""
    columns = {"email": 0, "name": 1, "status": 2}
    for number, row in enumerate(reader, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and "email" in (c.lower() for c in cells):
            lowered = [c.lower() for c in cells]
            columns = {k: lowered.index(k) if k in lowered else -1 for k in columns}
            continue
        email, name, status = (cells[i] if 0 <= i < len(cells) else "" for i in columns.values())
        yield number, (email, name, status)


def _import_one(
    store: Store, address: str, name: str, status: str, report: ImportReport, now: datetime
) -> None:
    status = status.lower() or "confirmed"
    if status not in STATUSES:
        raise UsageError(f"{address}: status {status!r} is not one of {', '.join(STATUSES)}")
    known = store.subscriber(address)
    if status != "unsubscribed" and store.is_suppressed(address):
        report.suppressed += 1
    elif known is not None and known.status == "unsubscribed" and status != "unsubscribed":
        report.kept_unsubscribed += 1
    elif known is None:
        store.add_subscriber(address, name=name, status=status, now=now)
        report.added += 1
    elif store.add_subscriber(address, name=name, status=status, now=now):
        report.changed += 1
    else:
        report.unchanged += 1


def export_csv(subscribers: Iterable[Subscriber], out: TextIO) -> int:
    """Write email,name,status,created rows (the import reads them back); return the count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "status", "created"])
    count = 0
    for s in subscribers:
        writer.writerow([s.email, s.name, s.status, s.created.isoformat(timespec="seconds")])
        count += 1
    return count


# --- the web pages ---------------------------------------------------------------------------


View = Callable[["Site", "Request", str], "Response"]


def _signed(purpose: str) -> Callable[[View], Handler]:
    """A view run only for a genuine ``purpose`` token, and given the address it names."""

    def wrap(view: View) -> Handler:
        @functools.wraps(view)
        def handler(site: Site, request: Request) -> Response:
            address = _token_address(site.config, request, purpose)
            return view(site, request, address) if isinstance(address, str) else address

        return handler

    return wrap


@_signed("unsubscribe")
def unsubscribe_page(site: Site, request: Request, address: str) -> Response:
    """GET: who is about to leave, and a button that POSTs (nothing changes on a GET)."""
    config = site.config
    with site.store() as store:
        known = store.subscriber(address)
    name = html.escape(config.newsletter.name)
    if known is None or known.status == "unsubscribed":
        return _page(
            "Not subscribed",
            f"<p>{html.escape(address)} does not receive {name}.</p>{_signup_link()}",
        )
    return _ask(
        f"Unsubscribe from {config.newsletter.name}?",
        f"{html.escape(address)} will no longer receive {name}.",
        request,
        "Unsubscribe",
    )


@_signed("unsubscribe")
def unsubscribe_now(site: Site, request: Request, address: str) -> Response:
    """POST: one-click (RFC 8058, body ``List-Unsubscribe=One-Click``) or the page's button."""
    config = site.config
    with site.store() as store:
        unsubscribe(store, address, now=utcnow())
    return _page(
        "You are unsubscribed",
        f"<p>{html.escape(address)} will no longer receive "
        f"{html.escape(config.newsletter.name)}.</p>{_signup_link('Changed your mind?')}",
    )


def signup_form(site: Site, request: Request, *, message: str = "", status: int = 200) -> Response:
    name = html.escape(site.config.newsletter.name)
    note = f'<p role="alert"><strong>{html.escape(message)}</strong></p>' if message else ""
    return _page(
        f"Sign up for {site.config.newsletter.name}",
        f"<p>{html.escape(site.config.newsletter.tagline)}</p>{note}"
        '<form method="post" action="subscribe">'
        '<p><label>Email address<br><input type="email" name="email" required'
        f' value="{html.escape(request.arg("email"))}"></label></p>'
        '<p><label>Name (optional)<br><input type="text" name="name"'
        f' value="{html.escape(request.arg("name"))}"></label></p>'
        # A field people do not see: whatever fills it in is a bot.
        '<p style="display:none"><label>Leave empty <input type="text" name="website"'
        ' tabindex="-1" autocomplete="off"></label></p>'
        f'<p><button type="submit">Sign up for {name}</button></p></form>',
        status,
    )


def signup_submit(site: Site, request: Request) -> Response:
    config = site.config
    try:
        address = valid_address(request.arg("email"))
    except InvalidAddress as error:
        return signup_form(site, request, message=str(error), status=400)
    if not request.arg("website"):
        try:
            with site.store() as store:
                sign_up(config, store, address, name=request.arg("name")[:100], now=utcnow())
        except ConfigError as error:
            return _unavailable("Sign-up", error)
        except PermanentFailure as error:
            return signup_form(
                site, request, message=f"That address refuses mail: {error}", status=400
            )
        except DeliveryError as error:
            log.warning("sign-up of %s: the confirmation mail could not go: %s", address, error)
            return _page(
                "Please try again later",
                "<p>The confirmation mail could not be sent just now.</p>",
                503,
            )
    # The same answer whether or not the address was known: the page reveals no subscriber.
    return _page(
        "Check your inbox",
        f"<p>If {html.escape(address)} can receive mail, a message with a confirmation link is"
        " on its way. Nothing is sent until you confirm.</p>",
    )


@_signed("confirm")
def confirm_page(site: Site, request: Request, address: str) -> Response:
    config = site.config
    return _ask(
        f"Confirm your subscription to {config.newsletter.name}",
        f"Send {html.escape(config.newsletter.name)} to {html.escape(address)}?",
        request,
        "Yes, subscribe me",
    )


@_signed("confirm")
def confirm_now(site: Site, request: Request, address: str) -> Response:
    config = site.config
    with site.store() as store:
        outcome = confirm(store, address, now=utcnow())
    if outcome == "left":
        return _page(
            "This link has expired",
            f"<p>{html.escape(address)} unsubscribed after this link was sent.</p>{_signup_link()}",
            410,
        )
    return _page(
        "You are subscribed",
        f"<p>{html.escape(config.newsletter.name)} will come to {html.escape(address)}"
        f"{' (it already did)' if outcome == 'already' else ''}.</p>",
    )


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/unsubscribe", unsubscribe_page),
    ("POST", r"/unsubscribe", unsubscribe_now),
    ("GET", r"/subscribe", signup_form),
    ("POST", r"/subscribe", signup_submit),
    ("GET", r"/confirm", confirm_page),
    ("POST", r"/confirm", confirm_now),
]


def _token_address(config: Config, request: Request, purpose: str) -> str | Response:
    """The address a genuine token names, or the error page to answer with."""
    try:
        secret = config.require_secret(f"the {purpose} links")
    except ConfigError as error:
        return _unavailable("This link", error)
    address = tokens.verify(request.arg("t"), purpose, secret)
    if address is None:
        return _page(
            "This link is not valid",
            "<p>It may have been cut short: copy the whole link from the message.</p>",
            400,
        )
    return address


def _ask(title: str, question: str, request: Request, button: str) -> Response:
    """A page whose button POSTs the link's token back to the same URL."""
    token = html.escape(request.arg("t"))
    return _page(
        title,
        f'<p>{question}</p><form method="post"><input type="hidden" name="t" value="{token}">'
        f'<button type="submit">{html.escape(button)}</button></form>',
    )


def _unavailable(what: str, error: ConfigError) -> Response:
    log.warning("%s", error)  # the details are for the operator, not for the page
    return _page("Not available", f"<p>{what} is not available on this server yet.</p>", 503)


def _signup_link(text: str = "") -> str:
    return f'<p>{text} <a href="subscribe">Sign up</a>.</p>'.replace("<p> ", "<p>")


def _page(title: str, body: str, status: int = 200) -> Response:
    # digest.serve imports this module for its ROUTES, so it is imported here, when a page is made.
    from digest.serve import page

    return page(title, body, status)
