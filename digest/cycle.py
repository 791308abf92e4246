"""One day's edition, exactly once: collect, build and send it, keyed by its date.

An edition's key is its date in the newsletter's time zone. The store keeps an EditionRun
per key (started, sent, skipped, missed); a trigger for a key whose run is final does
nothing, and the delivery ledger never sends one person an edition twice. An edition that
reached somebody is always finished, however late; one that reached nobody and is found
after ``schedule.catch_up`` is given up, and its articles go into the next edition.
Used by the daemon's jobs and by `digest run`; it calls pipeline functions, never stages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest import logs, newsletters, schedule
from digest.config import Config, format_duration
from digest.models import DEFAULT_NEWSLETTER
from digest.newsletters import pattern_of, series
from digest.store import Store, open_store, utcnow

if TYPE_CHECKING:
    # The pipeline (every stage) is imported where a cycle runs: `digest status` reads this
    # module's clock and keys without paying for summarize, render and extract.
    from digest import pipeline

ShouldStop = Callable[[], bool]


def now() -> datetime:
    return utcnow()


# --- one edition ------------------------------------------------------------------------------


def edition_cycle(
    config: Config, *, scheduled: datetime, should_stop: ShouldStop, collect: bool = True
) -> str:
    """Collect, build and send the edition due at ``scheduled``, unless its key is settled.

    ``config`` is one newsletter's, at one frequency (digest.newsletters.series); one that
    nobody reads is not made. ``collect``: False when another newsletter's cycle just did
    (the sources are shared). Returns why the cycle did not do its job (for `digest run`'s
    exit status), or "". A cycle in which not one source could be fetched settles nothing:
    the next one tries again.
    """
    key = key_of(config, scheduled)
    with open_store(config.data_dir, url=config.database_url) as store:
        finish_unfinished(config, store, should_stop=should_stop)
        if not _is_default(config):
            from digest.pipeline.audience import readers

            if not readers(config, store):
                return ""
        run = store.edition_run(key)
        if run is not None and run.final:
            _already(config, key, run.outcome, run.detail)
            return ""
        if should_stop():
            return ""
        late = now() - scheduled
        logs.event(
            "edition",
            f"edition {key}, due {local_time(config, scheduled)}: collecting, building, sending"
            + (f" ({span(late)} late)" if late >= timedelta(minutes=1) else ""),
            edition=key,
            scheduled=scheduled.isoformat(),
            late_seconds=round(late.total_seconds(), 1),
        )
        from digest import pipeline

        store.record_run(key, "started", scheduled=scheduled, now=now())
        collected = pipeline.collect(config, store, now=now()) if collect else None
        if collected is not None:
            log_collect(collected)
        if should_stop():
            return ""
        report = pipeline.build(config, store, now=_build_moment(config, scheduled))
        if report.email is None:
            if collected is not None and not collected.fetched_any:
                problem = f"edition {key} not made: not one source could be fetched"
                logs.error(
                    "skip", f"{problem}; the next `digest run` tries again ({report.message})"
                )
                return problem
            store.record_run(key, "skipped", scheduled=scheduled, now=now(), detail=report.message)
            logs.event("skip", f"{key}: {report.message}", edition=key)
            return ""
        _log_build(report)
        return _send(config, store, should_stop=should_stop)


def _already(config: Config, key: str, outcome: str, detail: str) -> None:
    """Log that today's edition is settled, and what still works when that is not what you want."""
    advice = ""
    if outcome == "skipped":
        advice = (
            "; `digest run` makes one edition a day: to make and send it anyway, "
            "`digest build && digest send`"
        )
    reason = f" ({detail})" if detail else ""
    logs.event("edition", f"edition {key} is already {outcome}{reason}{advice}", edition=key)


def finish_unfinished(config: Config, store: Store, *, should_stop: ShouldStop) -> None:
    """Finish each newsletter's latest edition's delivery when a stop or a crash cut it short,
    or retries or readers' own send times are due (and earlier editions' late readers)."""
    for one in series(config):
        latest = store.latest_edition(series=pattern_of(one))
        if latest is None or should_stop():
            continue
        run = store.edition_run(latest.key)
        due = store.editions_due(now=now(), series=pattern_of(one))
        waiting = [d for d in store.deliveries(latest.key) if d.is_due(now())]
        if not due and (run is None or run.outcome != "started"):
            continue
        logs.event(
            "resume",
            f"edition {latest.key}: finishing its delivery ({len(waiting)} waiting)",
            edition=latest.key,
            waiting=len(waiting),
        )
        _send(one, store, should_stop=should_stop)


def send_due(config: Config, *, should_stop: ShouldStop) -> None:
    """Send what has fallen due: the daemon wakes for the next reader's own send time."""
    with open_store(config.data_dir, url=config.database_url) as store:
        finish_unfinished(config, store, should_stop=should_stop)


def next_due(config: Config) -> datetime | None:
    """When the next ledger row falls due (a reader's own send time), if any is waiting."""
    with open_store(config.data_dir, url=config.database_url) as store:
        return store.next_due(after=now())


def _is_default(config: Config) -> bool:
    return (config.slug, config.frequency) == (DEFAULT_NEWSLETTER, "daily")


def record_missed(config: Config, store: Store, scheduled: datetime) -> None:
    """Give up on the edition due at ``scheduled``: its articles go into the next one."""
    key = key_of(config, scheduled)
    run = store.edition_run(key)
    if run is not None and run.final:
        return
    if store.deliveries(key):
        return  # it reached somebody: finish_unfinished completes it
    store.discard_unsent_edition(key)
    late = span(now() - scheduled)
    detail = f"due {local_time(config, scheduled)}, {late} before digest could send it"
    store.record_run(key, "missed", scheduled=scheduled, now=now(), detail=detail)
    logs.warning(
        "missed",
        f"edition {key} {detail}: past schedule.catch_up "
        f"({format_duration(config.schedule.catch_up)}), so not sent; "
        "its articles go into the next edition",
        edition=key,
        scheduled=scheduled.isoformat(),
    )


def startup_catch_up(config: Config, store: Store) -> datetime | None:
    """The send time the daemon was down for, if it should still be sent now (else None)."""
    due = schedule.send_trigger(config).latest(now())
    if due is None:
        return None
    key = key_of(config, due)
    run = store.edition_run(key)
    if run is not None and run.final:
        logs.event(
            "edition", f"edition {key} (due {local_time(config, due)}) is already {run.outcome}"
        )
        return None
    if now() - due <= config.schedule.catch_up:
        return due
    if store.latest_run() is not None or store.latest_edition() is not None:
        record_missed(config, store, due)  # (a new data directory has missed nothing)
    return None


def _send(config: Config, store: Store, *, should_stop: ShouldStop) -> str:
    """Send the latest edition; why some recipients are still without it, or ""."""
    from digest import pipeline

    report = pipeline.send(config, store, now=now(), should_stop=should_stop)
    key, c = report.edition_key, report.counts
    for problem in report.problems:
        logs.warning("undelivered", problem, edition=key)
    rows = store.deliveries(key)
    later = sum(1 for d in rows if d.status == "pending" and not d.is_due(now()))
    waiting = sum(1 for d in rows if d.status in ("pending", "sending")) - later
    logs.event(
        "send",
        f"edition {key}: {c['sent']} sent, {c['deferred']} deferred, {c['failed']} failed, "
        f"{c['skipped']} skipped"
        + (f", {c['unknown']} unknown" if c["unknown"] else "")
        + (f"; {later} at their readers' own time" if later else "")
        + (f"; {waiting} left for the next start" if waiting else ""),
        edition=key,
        waiting=waiting,
        later=later,
        **c,
    )
    run = store.edition_run(key)
    if not waiting and run is not None and not run.final:
        store.record_run(
            key,
            "sent",
            scheduled=run.scheduled,
            now=now(),
            detail=", ".join(f"{n} {state}" for state, n in c.items() if n or state != "unknown"),
        )
    if report.stopped:
        return f"edition {key}: {report.stopped}; the rest wait for the next run"
    if c["deferred"] or c["failed"] or waiting:
        return f"edition {key}: {c['deferred']} deferred, {c['failed']} failed, {waiting} waiting"
    if not store.deliveries(key):
        return f"edition {key}: nobody to send it to (no confirmed subscribers)"
    return ""


def _build_moment(config: Config, scheduled: datetime) -> datetime:
    """Build as of now, unless catching up has crossed midnight: then as of the send time."""
    current = now()
    return current if key_of(config, current) == key_of(config, scheduled) else scheduled


def key_of(config: Config, moment: datetime) -> str:
    return newsletters.key_of(config, moment)


def local_time(config: Config, moment: datetime) -> str:
    return f"{moment.astimezone(ZoneInfo(config.newsletter.timezone)):%Y-%m-%d %H:%M %Z}"


def span(duration: timedelta) -> str:
    """A duration as people say it: '45s', '20m', '6h 30m', '1d 2h'."""
    seconds = int(duration.total_seconds())
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if seconds >= size or (name == "s" and not parts):
            parts.append(f"{seconds // size}{name}")
            seconds %= size
    return " ".join(parts[:2])


# --- logging reports -------------------------------------------------------------------------


def read_bounces(config: Config, store: Store) -> None:
    """The daemon reads bounces with each collect, so suppressions are in before the next send.

    Nothing to do without bounces.mailbox; a mailbox that cannot be read is a warning, never
    the end of the collect.
    """
    if not (config.bounces.mailbox and config.bounces.address):
        return
    from digest.errors import DigestError
    from digest.pipeline.bouncing import read_mailbox

    try:
        report = read_mailbox(config, store, config.bounces.mailbox, now=now())
    except DigestError as error:
        logs.warning("bounces", str(error))
        return
    for line in report.lines:
        logs.event("bounce", line)
    logs.event("bounces", report.summary(), suppressed=report.counts["suppressed"])


def log_collect(report: pipeline.CollectReport) -> None:
    for result in report.results:
        if result.status == "failed":
            logs.warning("source", f"{result.state.key}: {result.message}", source=result.state.key)
    for problem in report.page_errors:
        logs.warning("page", f"page failed {problem}")
    logs.event(
        "collect",
        f"{len(report.results)} sources: {report.count('ok')} fetched, "
        f"{report.count('unchanged')} unchanged, {report.count('failed')} failed; "
        f"{report.new} new articles, {report.updated} updated",
        new=report.new,
        updated=report.updated,
        failed=report.count("failed"),
    )


def _log_build(report: pipeline.BuildReport) -> None:
    built = report.edition
    if built is None:
        logs.event("build", report.message)
        return
    logs.event(
        "build",
        f"edition {built.key} (issue {built.number}): {len(built.items)} stories "
        f"from {len(built.article_ids)} articles",
        edition=built.key,
        stories=len(built.items),
        articles=len(built.article_ids),
    )
