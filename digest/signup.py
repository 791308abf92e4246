"""Sign-up by double opt-in: a request is queued, a worker mails the link, the link confirms.

The request (:func:`request_signup`) only counts a hit against the client's hourly limit and
queues a row: it does the same work whether or not the address is known, and never waits
for a mail server, so neither its answer nor its timing tells who subscribes. The
:class:`Mailer` (a thread beside the web server) claims queued rows with a lease and mails
them through the configured transport, one connection at a time and within
``delivery.rate_limit``; it also keeps the per-mailbox and the global hourly caps
(``[web]``). Every limit is a row in the store, so it holds across processes.

A confirmation link carries when it was made: it expires after :data:`CONFIRM_WITHIN`, and
one made before the address unsubscribed cannot subscribe it again (:func:`confirm`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from digest import deliver, tokens
from digest.addresses import address_key
from digest.config import Config
from digest.errors import ConfigError, DigestError, PermanentFailure, TransportUnavailable
from digest.store import QueuedConfirmation, Store, utcnow

log = logging.getLogger("digest.signup")

RESEND_AFTER = timedelta(minutes=10)
"""A second sign-up of an address sooner than this after its mail sends no second mail."""
CONFIRM_WITHIN = timedelta(days=7)
"""How long a confirmation link works."""
QUEUE_FOR = timedelta(hours=24)
"""A mail still queued after this (limits, a mail server down) is dropped."""
LEASE = timedelta(minutes=2)
"""A claimed mail whose sender vanished is due again after this."""
KEEP = timedelta(days=30)
"""How long finished mails and past limit windows are remembered (a day's window needs a day)."""
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))
"""Waits after temporary failures; one more failure is final."""


def mailbox_key(address: str) -> str:
    """The mailbox an address reaches, for the per-mailbox cap: 'Ana+x@Example.com' -> 'ana@example.com'."""
    local, _, domain = address_key(address).rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def hour_of(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def day_of(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def request_signup(
    config: Config, store: Store, address: str, *, name: str, client: str, now: datetime
) -> bool:
    """Queue a confirmation mail to ``address``; False when ``client`` used up its hour's sign-ups."""
    if not store.take_hit(f"client:{client}", hour_of(now), config.web.signups_per_client):
        return False
    store.queue_confirmation(address, name=name, now=now, resend_after=RESEND_AFTER)
    return True


ConfirmOutcome = Literal["confirmed", "already", "left", "expired"]


def confirm(
    store: Store, address: str, *, issued: datetime | None, now: datetime
) -> ConfirmOutcome:
    """Confirm a sign-up. 'left': the address unsubscribed after the link was made."""
    if issued is None or not now - CONFIRM_WITHIN <= issued <= now + timedelta(minutes=5):
        return "expired"
    known = store.subscriber(address)
    if known is not None and known.status == "confirmed":
        return "already"
    if known is not None and known.status == "unsubscribed" and (known.updated or now) > issued:
        return "left"
    store.add_subscriber(address, status="confirmed", now=now)
    return "confirmed"


CONFIRMATION = """\
Please confirm that you want to receive {newsletter}.

Someone, we hope you, asked for {newsletter} to be sent to {address}.
To confirm, open this link and press the button on the page:

{link}

The link works for {days} days. If you did not ask for it, ignore this message:
you will not be subscribed and will not hear from us again.
"""


# --- sending the queued mails ----------------------------------------------------------------


def send_due(
    config: Config,
    store: Store,
    *,
    clock: Callable[[], datetime] = utcnow,
    transport: deliver.Transport | None = None,
) -> int:
    """Mail every due confirmation the limits allow; return how many went out."""
    base_url = config.newsletter.base_url.rstrip("/")
    secret = config.require_secret("the confirmation links")
    if not base_url:
        raise ConfigError(
            [
                f"{config.path}: newsletter.base_url: expected the public URL of digest serve for the confirmation links, got ''"
            ]
        )
    sent = 0
    try:
        while item := store.claim_confirmation(
            now=clock(), lease=LEASE, oldest=clock() - QUEUE_FOR
        ):
            verdict = _allowed(config, store, item, clock())
            if verdict != "send":
                if verdict == "wait":
                    retry = hour_of(clock()) + timedelta(hours=1)
                    store.finish_confirmation(item.email, "queued", now=clock(), retry_at=retry)
                    break
                store.finish_confirmation(item.email, "dropped", now=clock(), reply=verdict)
                continue
            transport = transport or deliver.make_transport(config)
            if not _mail(config, store, item, base_url, secret, transport, clock()):
                break
            sent += 1
    finally:
        if transport is not None:
            transport.close()
    return sent


def _allowed(config: Config, store: Store, item: QueuedConfirmation, now: datetime) -> str:
    """'send'; 'wait' (the hour's cap is reached); or why the mail is dropped."""
    if store.subscriber_status(item.email) == "confirmed":
        return "already subscribed"
    web = config.web
    if not store.take_hit(
        f"mailbox:{mailbox_key(item.email)}", day_of(now), web.confirmations_per_mailbox
    ):
        return "the mailbox's daily limit is reached"
    if not store.take_hit("confirmations", hour_of(now), web.confirmations_per_hour):
        return "wait"
    return "send"


def _mail(
    config: Config,
    store: Store,
    item: QueuedConfirmation,
    base_url: str,
    secret: str,
    transport: deliver.Transport,
    now: datetime,
) -> bool:
    """Mail one confirmation and record it; False when the transport cannot be used now."""
    token = tokens.sign(item.email, "confirm", secret, issued=now)
    name = config.newsletter.name
    text = CONFIRMATION.format(
        newsletter=name,
        address=item.email,
        link=f"{base_url}/confirm?t={token}",
        days=CONFIRM_WITHIN.days,
    )
    data = deliver.compose_notice(
        subject=f"Confirm your subscription to {name}",
        text=text,
        to=item.email,
        newsletter=config.newsletter,
        now=now,
    )
    signer = deliver.make_signer(config)
    try:
        transport.send(
            deliver.Outgoing(
                sender=deliver.ascii_domain(config.newsletter.from_address),
                recipient=deliver.ascii_domain(item.email),
                data=signer.sign(data) if signer else data,
                batch="confirmations",
            )
        )
    except PermanentFailure as error:
        store.finish_confirmation(item.email, "failed", now=now, reply=str(error))
        return True
    except DigestError as error:
        log.warning("confirmation mail to %s: %s", item.email, error)
        if item.attempts > len(RETRY_AFTER):
            store.finish_confirmation(item.email, "failed", now=now, reply=str(error))
        else:
            retry = now + RETRY_AFTER[item.attempts - 1]
            store.finish_confirmation(
                item.email, "queued", now=now, reply=str(error), retry_at=retry
            )
        return not isinstance(error, TransportUnavailable)
    store.record_signup(item.email, name=item.name, now=now)
    store.finish_confirmation(item.email, "sent", now=now)
    return True


class Mailer:
    """A thread that sends the queued confirmation mails: woken by each sign-up, and every
    :data:`POLL` seconds for those queued by other processes or waiting for a retry."""

    POLL = 15.0

    def __init__(self, config: Callable[[], Config], open_store: Callable[[Config], Store]) -> None:
        self._config = config
        self._open_store = open_store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="digest-mailer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.POLL)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                config = self._config()
                with self._open_store(config) as store:
                    send_due(config, store)
                    # Counts of past windows and finished mails are kept a while, then let go.
                    store.prune_hits(before=utcnow() - KEEP)
                    store.prune_confirmations(before=utcnow() - KEEP)
            except DigestError as error:  # a broken config or store: said once per round
                log.warning("confirmation mails wait: %s", error)
