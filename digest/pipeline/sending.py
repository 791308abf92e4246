"""Send: the latest edition to each confirmed subscriber, through the delivery ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest import deliver
from digest.config import Config
from digest.errors import (
    PermanentFailure,
    TemporaryFailure,
    TransportUnavailable,
    UsageError,
)
from digest.models import Delivery, DeliveryStatus, Email
from digest.pipeline.messages import compose_message, recipient_for
from digest.pipeline.pacing import shared_pace
from digest.store import Store, utcnow


@dataclass(frozen=True)
class SendReport:
    edition_key: str
    counts: dict[str, int]
    """Recipients by what this run left them at: sent, deferred, failed, skipped."""
    problems: list[str]
    """'address: reply' for each recipient this run left deferred or failed."""
    stopped: str = ""
    """Why the run stopped before trying everyone due (the transport became unavailable)."""


BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
"""How long a deferred recipient waits for a later run, by the attempts made so far."""


def send(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    transport: deliver.Transport | None = None,
    progress: Callable[[str, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SendReport:
    """Deliver the latest edition to every confirmed subscriber who has not received it yet.

    A temporary failure is retried within the run (``delivery.retries_per_run`` times,
    after ``delivery.retry_pause``, doubling); a recipient it still fails for is deferred
    to a later run (after BACKOFF), up to ``delivery.max_attempts`` attempts in all.
    ``should_stop`` is asked before each message: once it says True, the rest stay in the
    ledger for the next run (the daemon's SIGTERM).
    """
    now = now or utcnow()
    record = store.latest_edition()
    if record is None:
        raise UsageError("no edition to send yet: run `digest build` first")
    # 1. Everything signing needs, checked before anyone is sent anything.
    secret = _unsubscribe_secret(config)
    signer = deliver.make_signer(config)
    # 2. A ledger row for every confirmed subscriber who has none for this edition yet.
    emails = [s.email for s in store.subscribers(status="confirmed")]
    store.plan_deliveries(record.key, emails, now=now)
    # 3. Hand the due ones to the transport, one at a time, through the ledger.
    run = _SendRun(
        config,
        store,
        record.email,
        transport or deliver.make_transport(config, pace=shared_pace(config, store)),
        signer=signer,
        secret=secret,
        start=now,
        progress=progress,
    )
    stopped = ""
    try:
        run.deliver_due(should_stop)
    except TransportUnavailable as error:
        stopped = str(error)
    finally:
        run.transport.close()
    return run.report(stopped)


class _SendRun:
    """One `digest send`: walks the ledger rows that are due and records each outcome."""

    def __init__(
        self,
        config: Config,
        store: Store,
        email: Email,
        transport: deliver.Transport,
        *,
        signer: deliver.DkimSigner | None,
        secret: str,
        start: datetime,
        progress: Callable[[str, str], None] | None,
    ) -> None:
        self.config, self.store, self.email, self.transport = config, store, email, transport
        self.signer, self.secret, self.start, self.progress = signer, secret, start, progress
        self.names = {s.email.lower(): s.name for s in store.subscribers(status=None)}
        self.outcomes: dict[str, tuple[str, str]] = {}
        self._started = time.monotonic()

    def now(self) -> datetime:
        """The run's clock: ``start`` moved on by the time spent since."""
        return self.start + timedelta(seconds=time.monotonic() - self._started)

    def deliver_due(self, should_stop: Callable[[], bool] | None = None) -> None:
        settings = self.config.delivery
        stop = should_stop or (lambda: False)
        due = [d for d in self.store.deliveries(self.email.edition_key) if d.is_due(self.start)]
        for retry in range(settings.retries_per_run + 1):
            if retry:
                if stop():
                    return
                time.sleep(settings.retry_pause.total_seconds() * 2 ** (retry - 1))
            deferred = []
            for delivery in due:
                if stop():
                    return  # the rest stay in the ledger as they are, for the next run
                if self.deliver_one(delivery) == "deferred":
                    deferred.append(delivery)
            if not deferred:
                break
            due = self._reloaded(deferred)

    def deliver_one(self, delivery: Delivery) -> str:
        """Send one recipient the edition, with the ledger around it; return the new status."""
        key, address = self.email.edition_key, delivery.email
        if self.store.subscriber_status(address) != "confirmed":
            return self._record(delivery, "skipped", "no longer subscribed", attempted=False)
        message = self.message_for(address)
        # Recorded before the hand-over: a "sending" row found after a crash is sent again,
        # so a crash costs at most the one duplicate whose acceptance was not yet recorded.
        self.store.mark_delivery(key, address, "sending", now=self.now())
        try:
            self.transport.send(message)
        except TransportUnavailable:
            # Nothing was handed over: the row waits for the next run as it was.
            self.store.mark_delivery(
                key,
                address,
                "deferred" if delivery.status == "deferred" else "pending",
                now=self.now(),
                reply=delivery.reply,
                next_attempt=delivery.next_attempt,
            )
            raise
        except TemporaryFailure as failure:
            if delivery.attempts + 1 >= self.config.delivery.max_attempts:
                return self._record(delivery, "failed", str(failure))
            return self._record(delivery, "deferred", str(failure))
        except PermanentFailure as failure:
            return self._record(delivery, "failed", str(failure))
        return self._record(delivery, "sent", "")

    def _record(
        self, delivery: Delivery, status: DeliveryStatus, reply: str, *, attempted: bool = True
    ) -> str:
        now = self.now()
        retry_at = None
        if status == "deferred":
            retry_at = now + BACKOFF[min(delivery.attempts, len(BACKOFF) - 1)]
        self.store.mark_delivery(
            self.email.edition_key,
            delivery.email,
            status,
            now=now,
            reply=reply,
            next_attempt=retry_at,
            attempted=attempted,
        )
        self.outcomes[delivery.email] = (status, reply)
        if self.progress:
            self.progress(delivery.email, status)
        return status

    def _reloaded(self, deliveries: list[Delivery]) -> list[Delivery]:
        rows = {d.email: d for d in self.store.deliveries(self.email.edition_key)}
        return [rows[d.email] for d in deliveries]

    def message_for(self, address: str) -> deliver.Outgoing:
        name = self.names.get(address.lower(), "")
        recipient = recipient_for(self.config, address, secret=self.secret, name=name)
        data = compose_message(self.config, self.email, recipient, now=self.start)
        return deliver.Outgoing(
            sender=deliver.ascii_domain(self.config.newsletter.from_address),
            recipient=deliver.ascii_domain(address),
            data=self.signer.sign(data) if self.signer else data,
            batch=self.email.edition_key,
        )

    def report(self, stopped: str) -> SendReport:
        counts = dict.fromkeys(("sent", "deferred", "failed", "skipped"), 0)
        for status, _ in self.outcomes.values():
            counts[status] += 1
        waiting = [
            d
            for d in self.store.deliveries(self.email.edition_key)
            if d.email not in self.outcomes and d.status == "deferred"
        ]
        counts["deferred"] += len(waiting)
        problems = [
            f"{address}: {reply}"
            for address, (status, reply) in self.outcomes.items()
            if status in ("deferred", "failed")
        ]
        return SendReport(self.email.edition_key, counts, problems, stopped)


def _unsubscribe_secret(config: Config) -> str:
    """The key for one-click unsubscribe links: needed once there is a base URL to link to."""
    if not config.newsletter.base_url:
        return ""
    return config.require_secret("the unsubscribe links (newsletter.base_url is set)")
