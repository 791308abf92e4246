"""One day's edition, exactly once: collect, build and send it, keyed by its date.

An edition's key is its date in the newsletter's time zone. The store keeps an EditionRun
per key (started, sent, skipped, missed); a trigger for a key whose run is final does
nothing, and the delivery ledger never sends one person an edition twice. An edition that
reached somebody is always finished, however late; one that reached nobody and is found
after ``schedule.catch_up`` is given up, and its articles go into the next edition.
Used by the daemon's jobs and by `digest run`; it calls pipeline functions, never stages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest import logs, newsletters, schedule
from digest.config import Config, format_duration
from digest.models import DEFAULT_NEWSLETTER
from digest.newsletters import pattern_of, series, series_of_key
from digest.store import Store, open_store, utcnow

if TYPE_CHECKING:
    # The pipeline (every stage) is imported where a cycle runs: `digest status` reads this
    # module's clock and keys without paying for summarize, render and extract.
    from digest import pipeline
    from digest.workers import Workers

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
        if collect and config.workers.enabled:
            collect_on_workers(config, should_stop=should_stop)
            collect = False  # the workers' jobs logged what they fetched
        collected = pipeline.collect(config, store, now=now()) if collect else None
        if collected is not None:
            log_collect(collected)
        if should_stop():
            return ""
        if config.workers.enabled:
            summarize_on_workers(
                config, store, now=_build_moment(config, scheduled), should_stop=should_stop
            )
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
    """Send the latest edition (or queue it for the workers); why some recipients are still
    without it, or ""."""
    from digest import pipeline

    if config.workers.enabled:
        record, _ = pipeline.plan(config, store, now=now())
        for key in store.editions_due(now=now(), series=pattern_of(config)):
            if key < record.key:  # earlier editions' readers whose own time has come
                queue_sends(config, store, key)
        return queue_sends(config, store, record.key)
    report = pipeline.send(config, store, now=now(), should_stop=should_stop)
    key, c = report.edition_key, report.counts
    waiting = _log_send(store, report, waiting_for="the next start")
    run = store.edition_run(key)
    if not waiting and run is not None and not run.final:
        _record_sent(store, key, c)
    if report.stopped:
        return f"edition {key}: {report.stopped}; the rest wait for the next run"
    if c["deferred"] or c["failed"] or waiting:
        return f"edition {key}: {c['deferred']} deferred, {c['failed']} failed, {waiting} waiting"
    if not store.deliveries(key):
        return f"edition {key}: nobody to send it to (no confirmed subscribers)"
    return ""


def _log_send(store: Store, report: pipeline.SendReport, *, waiting_for: str) -> int:
    """Log what a send did; how many of its edition's recipients are still pending or held."""
    key, c = report.edition_key, report.counts
    for problem in report.problems:
        logs.warning("undelivered", problem, edition=key)
    waiting, later = _waiting(store, key)
    logs.event(
        "send",
        f"edition {key}: {c['sent']} sent, {c['deferred']} deferred, {c['failed']} failed, "
        f"{c['skipped']} skipped"
        + (f", {c['unknown']} unknown" if c["unknown"] else "")
        + (f"; {later} at their readers' own time" if later else "")
        + (f"; {waiting} left for {waiting_for}" if waiting else ""),
        edition=key,
        waiting=waiting,
        later=later,
        **c,
    )
    return waiting


def _waiting(store: Store, key: str) -> tuple[int, int]:
    """The edition's rows pending or held now, and those pending until their readers' own
    send time (not among the first); counted by the store."""
    states = store.delivery_counts([key])[key]
    later = store.count_later(key, now=now())
    return states.get("pending", 0) + states.get("sending", 0) - later, later


def _record_sent(store: Store, key: str, counts: dict[str, int]) -> None:
    run = store.edition_run(key)
    if run is None or run.final:
        return
    store.record_run(
        key,
        "sent",
        scheduled=run.scheduled,
        now=now(),
        detail=", ".join(f"{n} {state}" for state, n in counts.items() if n or state != "unknown"),
    )


# --- the send, spread over `digest worker` processes (workers.enabled) -----------------------


def queue_sends(config: Config, store: Store, key: str) -> str:
    """Queue one send job per workers.send_batch recipients due now; "" (the workers send)."""
    from digest import pipeline, queue

    pipeline.take_over_from_the_dead(store, key, now=now())
    due = store.count_due(key, now=now())
    if not due:
        return ""
    parts = -(-due // config.workers.send_batch)
    # One lock per part: queueing again while the jobs still wait adds none.
    queued = queue.defer_many(
        config, "send", [({"edition_key": key}, f"send:{key}:{n}") for n in range(parts)]
    )
    if not queued:
        return ""  # the jobs queued before still wait
    logs.event(
        "queue",
        f"edition {key}: {due} recipients due, {queued} send jobs queued for the workers",
        edition=key,
        due=due,
        jobs=queued,
    )
    return ""


PATIENCE = 60.0
"""Seconds the leader waits for the workers' collect or summarize jobs to make progress
before it goes on without them."""


def queue_collects(config: Config) -> int:
    """Queue one collect job per source (none for a source whose job still waits); how many."""
    from digest import queue

    queued = queue.defer_many(
        config, "collect", [({"source": s.url}, f"collect:{s.url}") for s in config.sources]
    )
    if queued:
        logs.event("queue", f"{queued} collect jobs queued for the workers", jobs=queued)
    return queued


def collect_on_workers(config: Config, *, should_stop: ShouldStop) -> None:
    """Have the workers collect every source, and wait while they make progress."""
    from digest import queue

    queue_collects(config)
    left = _while_progress(lambda: queue.unfinished(config, "collect"), should_stop)
    if left:
        logs.warning(
            "collect",
            f"{left} collect jobs not done after {PATIENCE:g}s without progress from "
            "the workers: the edition is built from what is collected so far",
        )


def _while_progress(left: Callable[[], int], should_stop: ShouldStop) -> int:
    """Wait while ``left()`` goes down (PATIENCE at most without); what is left then."""
    import time

    remaining, progress = left(), time.monotonic()
    while remaining and not should_stop() and time.monotonic() - progress < PATIENCE:
        time.sleep(0.5)
        now_left = left()
        if now_left < remaining:
            remaining, progress = now_left, time.monotonic()
    return remaining


def collect_job(config: Config, *, source: str, should_stop: ShouldStop) -> None:
    """A worker's collect job: the one source whose URL is ``source`` (if still configured)."""
    from dataclasses import replace

    from digest import pipeline

    chosen = tuple(s for s in config.sources if s.url == source)
    if not chosen or should_stop():
        return
    with open_store(config.data_dir, url=config.database_url) as store:
        report = pipeline.collect(
            replace(config, sources=chosen), store, now=now(), workers=_page_workers()
        )
    log_collect(report)


def _page_workers() -> Workers:
    """The page extractors of this `digest worker` process, kept from one collect job to the
    next. A job runs off the main thread, where the time budget needs a worker process: a pool
    per job would start and import the extraction stack for every teaser feed (about 0.6 s of
    CPU). It starts on the first page, so a worker that only sees full-text feeds has none."""
    from digest.pipeline.collecting import WORKER_MODULES
    from digest.workers import Workers

    with _PAGES:  # a worker's jobs run in threads, several at once
        if not _page_pool:
            _page_pool.append(Workers(preload=WORKER_MODULES))
        return _page_pool[0]


def stop_page_workers() -> None:
    """Stop the page extractors collect jobs started here, if any (a worker's last act)."""
    with _PAGES:
        while _page_pool:
            _page_pool.pop().__exit__()


_PAGES = threading.Lock()
_page_pool: list[Workers] = []


SUMMARIZE_BATCH = 10
"""Articles per summarize job."""


def queue_summaries(config: Config, store: Store, *, now: datetime) -> list[str]:
    """Queue summarize jobs for the next edition's articles not summarized yet; their ids."""
    from digest import pipeline, queue

    missing = pipeline.unsummarized(config, store, now=now)
    chunks = [missing[n : n + SUMMARIZE_BATCH] for n in range(0, len(missing), SUMMARIZE_BATCH)]
    queued = queue.defer_many(
        config, "summarize", [({"article_ids": chunk}, f"summarize:{chunk[0]}") for chunk in chunks]
    )
    if queued:
        logs.event(
            "queue",
            f"{len(missing)} articles to summarize: {queued} summarize jobs queued for the workers",
            articles=len(missing),
            jobs=queued,
        )
    return missing


def summarize_on_workers(
    config: Config, store: Store, *, now: datetime, should_stop: ShouldStop
) -> None:
    """Have the workers summarize the edition's articles, and wait while they make progress."""
    from digest import pipeline

    queue_summaries(config, store, now=now)
    left = _while_progress(lambda: len(pipeline.unsummarized(config, store, now=now)), should_stop)
    if left:
        logs.warning(
            "summarize",
            f"{left} articles still without a summary after {PATIENCE:g}s without "
            "progress from the workers: the build summarizes them itself",
        )


def summarize_job(config: Config, *, article_ids: list[str], should_stop: ShouldStop) -> None:
    """A worker's summarize job: these articles' summaries, into the cache the build reads."""
    from digest import pipeline

    with open_store(config.data_dir, url=config.database_url) as store:
        done = pipeline.summarize_articles(config, store, article_ids)
    logs.event("summarize", f"{done} articles summarized", articles=done)


def send_job(config: Config, *, edition_key: str, should_stop: ShouldStop) -> None:
    """A worker's send job: up to workers.send_batch of the edition's due recipients.

    The ledger's claims decide who sends whom, so a job run twice sends nobody twice. At
    the end, what is still due (rows of a dead worker, of a job that stopped) is queued
    again; once nobody is pending or held, the edition's run is recorded as sent.
    """
    while not _SENDING.acquire(timeout=1):  # another of this worker's jobs is sending
        if should_stop():
            return  # its recipients stay due in the ledger: the sweep queues them again
    try:
        _send_batch(config, edition_key=edition_key, should_stop=should_stop)
    finally:
        _SENDING.release()


_SENDING = threading.Lock()
"""Held by the send job in hand: a worker runs one at a time (each keeps smtp.connections
connections). Send jobs have a queue of their own that a worker takes one at a time
(digest.queue.ALONE_QUEUE); this also covers those an earlier version queued with the rest."""


def _send_batch(config: Config, *, edition_key: str, should_stop: ShouldStop) -> None:
    from digest import pipeline

    with open_store(config.data_dir, url=config.database_url) as store:
        record = store.edition(edition_key)
        if record is None:
            logs.warning("send", f"edition {edition_key} is gone; its send job does nothing")
            return
        report = pipeline.send_due(
            series_of_key(config, edition_key) or config,  # the newsletter that made it
            store,
            record,
            now=now(),
            limit=config.workers.send_batch,
            should_stop=should_stop,
        )
        _log_send(store, report, waiting_for="the other jobs")
        if report.stopped:  # the server is out of reach: the workers' sweep tries again
            logs.warning("send", f"edition {edition_key}: {report.stopped}")
        elif not should_stop():
            settle_sends(config, store, edition_key)


def settle_sends(config: Config, store: Store, key: str) -> None:
    """Queue what is still due of ``key``'s send, or record the edition sent once it is done."""
    queue_sends(config, store, key)
    states = store.delivery_counts([key])[key]
    if not states or _waiting(store, key)[0]:
        return
    outcomes = ("sent", "deferred", "failed", "skipped", "unknown")
    _record_sent(store, key, {state: states.get(state, 0) for state in outcomes})


def sweep_sends(config: Config) -> None:
    """On one worker now and then: each newsletter's rows that fell due (a dead worker's
    ended lease, a deferral's retry time, a reader's own send time) are queued again."""
    with open_store(config.data_dir, url=config.database_url) as store:
        for one in series(config):
            latest = store.latest_edition(series=pattern_of(one))
            keys = set(store.editions_due(now=now(), series=pattern_of(one)))
            for key in sorted(keys | ({latest.key} if latest else set())):
                settle_sends(one, store, key)


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
