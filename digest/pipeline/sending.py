"""Send: the latest edition to each confirmed subscriber, through the delivery ledger."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from digest import deliver
from digest.config import Config
from digest.errors import (
    PermanentFailure,
    TemporaryFailure,
    Throttled,
    TransportUnavailable,
    UnknownOutcome,
    UsageError,
)
from digest.governor import Governor
from digest.lock import alive
from digest.models import Delivery, DeliveryStatus
from digest.newsletters import pattern_of, series
from digest.pipeline import audience
from digest.pipeline.bouncing import return_paths
from digest.pipeline.lanes import Lanes
from digest.pipeline.messages import compose_message, recipient_for
from digest.store import EditionRecord, Store, utcnow


@dataclass(frozen=True)
class SendReport:
    edition_key: str
    counts: dict[str, int]
    """Recipients by what this run left them at: sent, deferred, failed, skipped, unknown."""
    problems: list[str]
    """'address: reply' for each recipient this run left deferred or failed."""
    stopped: str = ""
    """Why the run stopped before trying everyone due (the transport became unavailable)."""


BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
"""How long a deferred recipient waits for a later run, by the attempts made so far."""


BATCH = 20
"""Ledger rows claimed at a time: a sender holds few rows it has not tried yet."""
UNKNOWN_RETRY = timedelta(hours=1)
"""How long a message whose outcome is unknown waits before its one retry."""
RENEW_EVERY = timedelta(minutes=1)
"""How often a sender extends the lease on the rows it holds."""
THROTTLED_RETRIES = 3
"""Times one recipient may be answered "slow down" before it counts as a temporary failure."""


def lease_for(config: Config) -> timedelta:
    """How long a claim lasts: longer than one message can take at its slowest."""
    return config.smtp.data_timeout + 4 * config.smtp.timeout + 2 * RENEW_EVERY


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

    Any number of sends may run at once, in any processes: each claims a few due ledger
    rows at a time (see digest.store.deliveries) and sends only what it won. A temporary
    failure is retried within the run (``delivery.retries_per_run`` times, after
    ``delivery.retry_pause``, doubling) while the row stays claimed; a recipient it still
    fails for is deferred to a later run (after BACKOFF), up to ``delivery.max_attempts``
    attempts in all. ``should_stop`` is asked before each message: once it says True, the
    rows still held are handed back for the next run (the daemon's SIGTERM).
    """
    now = now or utcnow()
    series = pattern_of(config)
    record = store.latest_edition(series=series)
    if record is None:
        raise UsageError("no edition to send yet: run `digest build` first")
    # 1. Everything signing needs, checked before anyone is sent anything.
    secret = _unsubscribe_secret(config)
    signer = deliver.make_signer(config)
    # 2. A ledger row for every reader of this newsletter and frequency (confirmed,
    #    unsuppressed) who has none for this edition yet: the variant they chose, due at
    #    their own send time. A row once planned keeps both (new choices count from the next).
    run = store.edition_run(record.key)
    planned = audience.plan(
        config,
        audience.readers(config, store),
        rendered=set(store.edition_variants(record.key)),
        anchor=run.scheduled if run is not None else record.built,
    )
    store.plan_deliveries(record.key, planned, now=now)
    # 3. Earlier editions of the series with rows due now (readers whose own send time came
    #    after the next edition was made), then this one.
    earlier = [k for k in store.editions_due(now=now, series=series) if k < record.key]
    runs: list[_SendRun] = []
    for one in [store.edition(key) for key in earlier] + [record]:
        if one is not None:
            runs += _deliver(
                config,
                store,
                one,
                now=now,
                transport=transport,
                signer=signer,
                secret=secret,
                progress=progress,
                should_stop=should_stop,
                recipients=len(planned),
            )
    # Outcomes by address; an earlier edition's with its key beside the address.
    outcomes: dict[str, tuple[str, str]] = {}
    for lane in runs:
        late = "" if lane.record.key == record.key else f" ({lane.record.key})"
        outcomes.update({f"{a}{late}": o for a, o in lane.outcomes.items()})
    # A connection that could not go on stops the send only where nobody sent its rows instead.
    stops = [one.stopped for one in runs if one.stopped]
    undone = stops and any(d.status in ("pending", "sending") for d in store.deliveries(record.key))
    # 4. Older editions' ledgers past delivery.keep_ledger become counts per state.
    store.compact_deliveries(built_before=now - config.delivery.keep_ledger, now=utcnow())
    return runs[-1].report(stops[0] if undone else "", outcomes, store=store)


def _deliver(
    config: Config,
    store: Store,
    record: EditionRecord,
    *,
    now: datetime,
    transport: deliver.Transport | None,
    signer: deliver.DkimSigner | None,
    secret: str,
    progress: Callable[[str, str], None] | None,
    should_stop: Callable[[], bool] | None,
    recipients: int,
) -> list[_SendRun]:
    """Claim the edition's due rows a batch at a time, hand each to the transport, record the
    outcome; with several connections, each in its own thread with its own store connection
    and claimant: the ledger's claims decide who sends whom, so nobody is sent twice."""
    lanes = 1
    if transport is None and config.delivery.transport == "smtp":
        lanes = max(1, min(config.smtp.connections, -(-recipients // BATCH)))  # no idle ones
    shared = Lanes(progress, should_stop)
    runs: list[_SendRun] = []

    def lane(lane_store: Store, lane_transport: deliver.Transport | None) -> None:
        try:
            run = _SendRun(
                config,
                lane_store,
                record,
                lane_transport or deliver.make_transport(config),
                signer=signer,
                secret=secret,
                start=now,
                progress=shared.progress,
            )
            runs.append(run)
            try:
                run.deliver_due(shared.stop)
            except TransportUnavailable as error:
                run.stopped = str(error)
            finally:
                run.release()
                run.transport.close()
        except BaseException:
            shared.abort.set()  # the other connections stop at their next message
            raise

    shared.run(lane, config, store, transport, lanes=lanes)
    return runs


def send_test(config: Config, store: Store, address: str, *, now: datetime) -> str:
    """The latest edition to ``address`` alone, as a test: no ledger row, no subscriber.

    Its links are the real ones (signed for ``address``); its return path is the plain
    From address. A refusal raises the DeliveryError the transport gives; returns the key.
    """
    record = store.latest_edition(series=pattern_of(config))
    if record is None:
        raise UsageError("no edition to send yet: run `digest build` first")
    recipient = recipient_for(config, address, secret=_unsubscribe_secret(config), name="")
    data = compose_message(config, record.email, recipient, now=now)
    signer = deliver.make_signer(config)
    transport = deliver.make_transport(config)
    try:
        transport.send(
            deliver.Outgoing(
                sender=deliver.ascii_domain(config.newsletter.from_address),
                recipient=deliver.ascii_domain(address),
                data=signer.sign(data) if signer else data,
                batch=f"{record.key}-test",
            )
        )
    finally:
        transport.close()
    return record.key


class _SendRun:
    """One send: claims due ledger rows, delivers them, records each outcome by compare-and-set."""

    def __init__(
        self,
        config: Config,
        store: Store,
        record: EditionRecord,
        transport: deliver.Transport,
        *,
        signer: deliver.DkimSigner | None,
        secret: str,
        start: datetime,
        progress: Callable[[str, str], None] | None,
    ) -> None:
        self.config, self.store, self.transport = config, store, transport
        self.record, self.email = record, record.email
        self.variants = store.edition_variants(record.key)
        self.signer, self.secret, self.start, self.progress = signer, secret, start, progress
        self.outcomes: dict[str, tuple[str, str]] = {}
        self.governor = Governor(
            store, rate=config.delivery.rate_limit, per_day=config.delivery.daily_limit
        )
        self.paths = return_paths(config)
        self.refs: dict[str, str] = {}
        self.throttled: dict[str, int] = {}
        self.stop: Callable[[], bool] = lambda: False
        self.claimant = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self.lease = lease_for(config)
        self._started = time.monotonic()
        self._renewed = start
        self.stopped = ""

    def now(self) -> datetime:
        """The run's clock: ``start`` moved on by the time spent since."""
        return self.start + timedelta(seconds=time.monotonic() - self._started)

    # --- the rows ---------------------------------------------------------------------------

    def deliver_due(self, stop: Callable[[], bool]) -> None:
        settings = self.config.delivery
        self.stop = stop
        retrying: list[Delivery] = []
        for delivery in self._claimed():
            if stop():
                return  # release() hands the rows still held back to the ledger
            outcome = self.deliver_one(delivery, may_retry=settings.retries_per_run > 0)
            if isinstance(outcome, Delivery):
                retrying.append(outcome)
        for retry in range(1, settings.retries_per_run + 1):
            if not retrying or stop():
                return
            time.sleep(settings.retry_pause.total_seconds() * 2 ** (retry - 1))
            again = [
                self.deliver_one(d, may_retry=retry < settings.retries_per_run) for d in retrying
            ]
            retrying = [d for d in again if isinstance(d, Delivery)]

    def _claimed(self) -> Iterator[Delivery]:
        """The due rows this run wins, a batch at a time, until none are left to claim."""
        self._take_over_from_the_dead()
        while True:
            batch = self.store.claim_deliveries(
                self.record.key,
                version=self.record.version,
                claimant=self.claimant,
                now=self.now(),
                lease_until=self.now() + self.lease,
                limit=BATCH,
            )
            if batch is None:
                self._reload()  # rebuilt before anyone was sent it: send the new version
                continue
            if not batch and not self._take_over_from_the_dead():
                return
            if self.paths is not None:
                self.refs.update(self.store.subscriber_refs(d.email for d in batch))
            yield from batch

    def _reload(self) -> None:
        record = self.store.edition(self.record.key)
        if record is None:
            raise TransportUnavailable(f"edition {self.record.key} was discarded meanwhile")
        self.record, self.email = record, record.email
        self.variants = self.store.edition_variants(record.key)

    def _take_over_from_the_dead(self) -> bool:
        """End the leases of claimants on this machine whose process is gone; True if any.

        A convenience: the lease alone makes their rows due again, later.
        """
        host = socket.gethostname()
        found = False
        for claimant in self.store.claimants(self.record.key):
            owner_host, _, rest = claimant.partition("/")
            pid = rest.partition("/")[0]
            if owner_host == host and pid.isdigit() and not alive(int(pid)):
                found |= (
                    self.store.expire_claims(self.record.key, claimant=claimant, now=self.now()) > 0
                )
        return found

    def _still_held(self, delivery: Delivery) -> bool:
        """Renew the lease now and then; False when this run no longer holds the row."""
        if self.now() - self._renewed < RENEW_EVERY:
            return True
        self._renewed = self.now()
        held = self.store.renew_claims(
            self.record.key, claimant=self.claimant, lease_until=self.now() + self.lease
        )
        return delivery.email in held

    def release(self) -> None:
        self.store.release_claims(self.record.key, claimant=self.claimant, now=self.now())

    # --- one recipient ----------------------------------------------------------------------

    def deliver_one(self, delivery: Delivery, *, may_retry: bool) -> Delivery | str:
        """Send one claimed row's recipient the edition and record how it went.

        The new status, or the row itself (one more attempt made) when it is to be retried
        within this run. A crash between the hand-over and the record leaves the row
        "sending": it is sent again once its lease ends, the one duplicate a crash can cost.
        """
        if not self._still_held(delivery):
            return "lost"
        address = delivery.email
        subscriber = self.store.subscriber(address)
        if subscriber is None or subscriber.status != "confirmed":
            return self._record(delivery, "skipped", "no longer subscribed", attempted=False)
        if self.store.is_suppressed(address):
            return self._record(delivery, "skipped", "suppressed", attempted=False)
        slot = self.governor.wait(self.stop)
        if slot == "daily-limit":
            raise TransportUnavailable(
                f"the daily limit of {self.config.delivery.daily_limit} messages "
                "(delivery.daily_limit) is reached; the rest are sent from tomorrow (UTC)"
            )
        if slot == "stopped":
            return "released"  # still claimed: release() hands it back untried
        try:
            self.transport.send(
                self.message_for(address, name=subscriber.name, variant=delivery.variant)
            )
        except UnknownOutcome as error:
            retry_at = self.now() + UNKNOWN_RETRY if delivery.unknowns == 0 else None
            return self._record(delivery, "unknown", str(error), retry_at=retry_at, unknown=True)
        except TemporaryFailure as failure:
            if isinstance(failure, Throttled) and self._slow_down(address, failure):
                return delivery  # not its fault: tried again later, no attempt counted
            if delivery.attempts + 1 >= self.config.delivery.max_attempts:
                return self._record(delivery, "failed", str(failure))
            if may_retry:
                self._record(delivery, "sending", str(failure))
                return replace(delivery, attempts=delivery.attempts + 1, reply=str(failure))
            retry_at = self.now() + BACKOFF[min(delivery.attempts, len(BACKOFF) - 1)]
            return self._record(delivery, "deferred", str(failure), retry_at=retry_at)
        except PermanentFailure as failure:
            # A 5xx at RCPT or DATA is a hard bounce: no more mail to this address.
            self.store.suppress(address, reason="hard bounce", detail=str(failure), now=self.now())
            return self._record(delivery, "failed", str(failure))
        self.governor.accepted()
        return self._record(delivery, "sent", "")

    def _slow_down(self, address: str, failure: Throttled) -> bool:
        """Pause every sender of the store; False once this recipient was throttled too often."""
        self.throttled[address] = self.throttled.get(address, 0) + 1
        if self.throttled[address] > THROTTLED_RETRIES:
            return False
        self.governor.throttled()
        if self.governor.exhausted:
            raise TransportUnavailable(
                f"the server keeps asking to slow down ({failure}); the rest wait for the next run"
            )
        return True

    def _record(
        self,
        delivery: Delivery,
        status: DeliveryStatus,
        reply: str,
        *,
        attempted: bool = True,
        retry_at: datetime | None = None,
        unknown: bool = False,
    ) -> str:
        held = self.store.finish_delivery(
            self.record.key,
            delivery.email,
            claimant=self.claimant,
            status=status,
            now=self.now(),
            reply=reply,
            next_attempt=retry_at,
            attempted=attempted,
            unknown=unknown,
        )
        if not held or status == "sending":
            return status
        self.outcomes[delivery.email] = (status, reply)
        if self.progress:
            self.progress(delivery.email, status)
        return status

    def message_for(self, address: str, *, name: str = "", variant: str = "") -> deliver.Outgoing:
        """The reader's message: their variant of the edition (rendered once for all who chose
        it), with their own values in its slots."""
        email = self.variants.get(variant, self.email)
        recipient = recipient_for(self.config, address, secret=self.secret, name=name)
        data = compose_message(self.config, email, recipient, now=self.start)
        ref = self.refs.get(address)
        sender = self.config.newsletter.from_address
        if self.paths is not None and ref is not None:
            sender = self.paths.address(ref)  # VERP: a bounce names its subscriber
        return deliver.Outgoing(
            sender=deliver.ascii_domain(sender),
            recipient=deliver.ascii_domain(address),
            data=self.signer.sign(data) if self.signer else data,
            batch=self.email.edition_key,
        )

    def report(
        self, stopped: str, outcomes: dict[str, tuple[str, str]], *, store: Store
    ) -> SendReport:
        """What the send did, from ``outcomes`` (every connection's, by address)."""
        counts = dict.fromkeys(("sent", "deferred", "failed", "skipped", "unknown"), 0)
        for status, _ in outcomes.values():
            counts[status] += 1
        waiting = [
            d
            for d in store.deliveries(self.email.edition_key)
            if d.email not in outcomes and d.status == "deferred"
        ]
        counts["deferred"] += len(waiting)
        problems = [
            f"{address}: {reply}"
            for address, (status, reply) in outcomes.items()
            if status in ("deferred", "failed", "unknown")
        ]
        return SendReport(self.email.edition_key, counts, problems, stopped)


def _unsubscribe_secret(config: Config) -> str:
    """The key for one-click unsubscribe links: needed once there is a base URL to link to."""
    if not config.newsletter.base_url:
        return ""
    return config.require_secret("the unsubscribe links (newsletter.base_url is set)")


def send_all(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    progress: Callable[[str, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[SendReport]:
    """Send each newsletter's latest edition, daily and weekly, that has been built.

    The default newsletter's daily edition first (UsageError when there is none, as before).
    """
    reports = [send(config, store, now=now, progress=progress, should_stop=should_stop)]
    for one in series(config)[1:]:
        if should_stop is not None and should_stop():
            break
        if store.latest_edition(series=pattern_of(one)) is not None:
            reports.append(send(one, store, now=now, progress=progress, should_stop=should_stop))
    return reports
