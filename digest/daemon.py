"""Running unattended: `digest daemon` collects all day and sends at send_at; `digest run` does
one cycle now, for cron or a systemd timer. What makes each edition go out once is in cycle.py.

- **Catch-up at start-up.** The daemon looks for the last send time it was down for: within
  ``schedule.catch_up`` it sends now, late; past it, the day is recorded as missed and its
  articles go into the next edition. APScheduler's misfire handling cannot see this: with
  an in-memory job store a restarted scheduler only knows future times. (It does handle a
  send that comes late while the daemon runs, after a suspend say, with the same grace.)
  A persistent job store would not help either: the decision needs digest's own record of
  what was sent, which the store already has.
- **One sender per data directory** (lock.py).
- **One leader per shared database** (leader.py): with ``database_url`` set, daemons on
  several machines each run a scheduler, but only the one holding the lease acts; when it
  gains the lease, it catches up as a daemon does at start-up (and so resumes a send its
  predecessor left half-done).
- **SIGTERM/SIGINT**: the message in flight is finished, the rest stays in the ledger, and
  the process exits 0 within STOP_GRACE seconds.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest import cycle, logs, newsletters, schedule
from digest.config import Config
from digest.cycle import key_of, local_time, now
from digest.errors import DigestError
from digest.leader import LEASE, Leadership
from digest.lock import AlreadyRunning, DataDirLock, Holder, holder
from digest.models import FetchState
from digest.store import EditionRecord, EditionRun, Lease, open_store

RECENT_COLLECT = timedelta(minutes=10)
"""Another newsletter's edition within this long of a collect builds from what it collected."""

STOP_GRACE = 4.0
"""Seconds the job in hand gets after SIGTERM/SIGINT before the process exits regardless."""

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
STATE_FILE = "daemon.json"


# --- signals ---------------------------------------------------------------------------------


class Stop:
    """The stop flag: jobs check it between steps, pipeline.send between messages."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __call__(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()


def block_stop_signals() -> None:
    """Hold SIGTERM/SIGINT for :func:`wait_for_stop_signal` (threads started later inherit this)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def wait_for_stop_signal(done: Callable[[], bool]) -> signal.Signals | None:
    """Wait until SIGTERM/SIGINT arrives (return it) or ``done()`` (return None).

    Waiting for a blocked signal, rather than handling it, leaves no handler to run in the
    middle of a lock or a write.
    """
    while not done():
        received = signal.sigtimedwait(STOP_SIGNALS, 0.25)
        if received is not None:
            return signal.Signals(received.si_signo)
    return None


def _exit_now(reason: str) -> None:
    """After STOP_GRACE: leave without waiting for the job in hand (it is safe to repeat)."""
    logs.warning("stopped", reason)
    logging.shutdown()
    os._exit(0)


# --- digest run ------------------------------------------------------------------------------


def run_once(config: Config) -> bool:
    """`digest run`: one collect + build + send cycle now, keyed like the daemon's.

    False when the cycle did not do its job (no source fetched, recipients left waiting).
    """
    block_stop_signals()
    stop = Stop()
    failure: list[BaseException] = []
    problems: list[str] = []

    def work() -> None:
        try:
            problems.append(cycle.edition_cycle(config, scheduled=now(), should_stop=stop_or_lost))
            for one in newsletters.series(config)[1:]:
                scheduled = _run_time(one)
                if scheduled is not None and not stop_or_lost():
                    problems.append(
                        cycle.edition_cycle(
                            one, scheduled=scheduled, should_stop=stop_or_lost, collect=False
                        )
                    )
        except BaseException as error:  # handed to the main thread, which reports it
            failure.append(error)

    with DataDirLock(config.data_dir, "run"), _lead_for_run(config) as leads:
        stop_or_lost: Callable[[], bool] = (lambda: stop() or not leads()) if leads else stop
        worker = threading.Thread(target=work, name="digest-run")
        worker.start()
        received = wait_for_stop_signal(lambda: not worker.is_alive())
        if received is not None:
            logs.event("stop", f"{received.name}: finishing the message in flight, then stopping")
            stop.set()
            worker.join(STOP_GRACE)
            if worker.is_alive():
                _exit_now(f"still busy after {STOP_GRACE:g}s; stopping anyway (safe to repeat)")
    if failure:
        raise failure[0]
    return not any(problems)


def _run_time(one: Config) -> datetime | None:
    """When `digest run` makes another newsletter's edition: now for a daily one; a weekly one
    from its day of the week on (once a week: its key is the week)."""
    if one.frequency == "daily":
        return now()
    due = schedule.send_trigger(one).latest(now())
    return due if due is not None and key_of(one, due) == key_of(one, now()) else None


@contextmanager
def _lead_for_run(config: Config) -> Iterator[Callable[[], bool] | None]:
    """On a shared database, `digest run` acts only while it holds the daemons' lease."""
    if not config.database_url:
        yield None
        return
    leadership = Leadership(config, on_gain=lambda: None, quiet=True)
    try:
        if not leadership.first_try():
            raise AlreadyRunning(
                f"{leadership.leader or 'another digest'} leads the digests sharing this "
                "database: it collects and sends; `digest run` does nothing meanwhile"
            )
        yield leadership.leads
    finally:
        leadership.stop()


# --- digest daemon ---------------------------------------------------------------------------


class Daemon:
    """`digest daemon`: the scheduler, the lock, the start-up catch-up and a clean stop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop = Stop()
        self._busy = threading.Lock()
        self._scheduler: schedule.Scheduler | None = None
        self._leadership: Leadership | None = None
        self._collected: datetime | None = None

    def run(self) -> None:
        block_stop_signals()
        with DataDirLock(self.config.data_dir, "daemon"):
            shared = bool(self.config.database_url)
            catch_up = None if shared else self._catch_up()
            self._scheduler = schedule.Scheduler(
                self.config,
                collect=self._job("collect", self._collect),
                send=self._job("edition", self._edition),
                missed=self._missed,
                send_first=catch_up,
                collect_first=None if catch_up or shared else now(),
                others=[
                    (
                        key_of(one, now()).rpartition("/")[0] + f" {one.frequency}",
                        schedule.send_trigger(one),
                        self._job("edition", functools.partial(self._other_edition, one)),
                    )
                    for one in newsletters.series(self.config)[1:]
                ],
            )
            self._scheduler.start()
            if not shared:
                for one in newsletters.series(self.config)[1:]:
                    work = functools.partial(self._catch_up_other, one)
                    self._scheduler.run_now(self._job("catch-up", work), name="catch up")
            if shared:
                self._leadership = Leadership(self.config, on_gain=self._gained)
                self._leadership.start()
            self._log_start(self._scheduler)
            received = wait_for_stop_signal(lambda: not self._scheduler_running())
            self._shut_down(received)

    def leads(self) -> bool:
        """Whether this daemon acts: always on SQLite, while it holds the lease on PostgreSQL."""
        return self._leadership is None or self._leadership.leads()

    def _should_stop(self) -> bool:
        return self.stop() or not self.leads()

    def _catch_up(self) -> datetime | None:
        """The send time this daemon was down for (or its predecessor died at), if still due."""
        with open_store(self.config.data_dir, url=self.config.database_url) as store:
            catch_up = cycle.startup_catch_up(self.config, store)
        if catch_up is not None:
            late = cycle.span(now() - catch_up)
            logs.event(
                "catch-up",
                f"edition {key_of(self.config, catch_up)} was due at "
                f"{local_time(self.config, catch_up)}: sending it now, {late} late",
            )
        return catch_up

    def _gained(self) -> None:
        if self._scheduler is not None:
            self._scheduler.run_now(self._job("take-over", self._take_over), name="take over")

    def _take_over(self) -> None:
        """As a daemon starting: send the edition still due (resuming it), else collect."""
        due = self._catch_up()
        if due is not None:
            cycle.edition_cycle(self.config, scheduled=due, should_stop=self._should_stop)
        else:
            self._collect()

    def _collect(self) -> None:
        with open_store(self.config.data_dir, url=self.config.database_url) as store:
            from digest import pipeline

            cycle.log_collect(pipeline.collect(self.config, store, now=now()))
            self._collected = now()
            cycle.read_bounces(self.config, store)
            cycle.finish_unfinished(self.config, store, should_stop=self._should_stop)

    def _edition(self) -> None:
        due = schedule.send_trigger(self.config).latest(now())
        if due is not None:
            cycle.edition_cycle(self.config, scheduled=due, should_stop=self._should_stop)
            self._collected = now()

    def _other_edition(self, one: Config) -> None:
        """Another newsletter's edition, or a weekly one: the sources were collected for the
        default newsletter's edition or by the collect job, unless that was long ago."""
        due = schedule.send_trigger(one).latest(now())
        if due is not None:
            fresh = self._collected is not None and now() - self._collected < RECENT_COLLECT
            cycle.edition_cycle(
                one, scheduled=due, should_stop=self._should_stop, collect=not fresh
            )

    def _catch_up_other(self, one: Config) -> None:
        """As :meth:`_catch_up`, for another newsletter's (or a weekly) edition with readers."""
        from digest.pipeline.audience import readers

        with open_store(self.config.data_dir, url=self.config.database_url) as store:
            if not readers(one, store):
                return
            due = cycle.startup_catch_up(one, store)
        if due is not None:
            logs.event(
                "catch-up",
                f"edition {key_of(one, due)} was due at {local_time(one, due)}: sending it now, "
                f"{cycle.span(now() - due)} late",
            )
            cycle.edition_cycle(one, scheduled=due, should_stop=self._should_stop)

    def _due(self) -> None:
        cycle.send_due(self.config, should_stop=self._should_stop)

    def _wake_when_due(self) -> None:
        """Set the wake-up for the next reader's own send time (a ledger row's due time)."""
        if self._scheduler is None or self._should_stop():
            return
        due = cycle.next_due(self.config)
        if due is not None:
            self._scheduler.wake(due, self._job("due", self._due))

    def _missed(self, scheduled: datetime) -> None:
        with open_store(self.config.data_dir, url=self.config.database_url) as store:
            cycle.record_missed(self.config, store, scheduled)

    def _job(self, name: str, work: Callable[[], None]) -> Callable[[], None]:
        """``work`` as a scheduler job: one at a time, never after a stop, errors logged."""

        def job() -> None:
            with self._busy:
                if self._should_stop():
                    return
                try:
                    work()
                except DigestError as error:
                    logs.error(name, str(error))
                except Exception as error:
                    logging.getLogger("digest").exception(
                        f"{type(error).__name__}: {error}", extra={"event": name}
                    )
                finally:
                    self._write_state()
                    try:
                        self._wake_when_due()
                    except DigestError as error:
                        logs.error("due", str(error))

        return job

    def _scheduler_running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def _log_start(self, scheduler: schedule.Scheduler) -> None:
        self._write_state()
        times = scheduler.next_times()
        collect, send = (local_time(self.config, t) if t else "none" for t in times)
        logs.event(
            "start",
            f"digest daemon (pid {os.getpid()}) on {self.config.data_dir}: "
            f"next collect {collect}, next send {send}",
            pid=os.getpid(),
        )

    def _shut_down(self, received: signal.Signals | None) -> None:
        if received is None:
            logs.error("stop", "the scheduler stopped by itself; exiting")
        else:
            logs.event("stop", f"{received.name}: finishing the job in hand, then stopping")
        self.stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown()
        if not self._busy.acquire(timeout=STOP_GRACE):
            _exit_now(
                f"a job was still busy after {STOP_GRACE:g}s; stopping anyway (safe to repeat)"
            )
        # Jobs already queued behind it take the lock, see the stop and return: held here,
        # they would wait for it forever and keep the process from exiting.
        self._busy.release()
        if self._leadership is not None:
            self._leadership.stop()
        _state_path(self.config.data_dir).unlink(missing_ok=True)
        logs.event("stopped", "stopped cleanly")

    def _write_state(self) -> None:
        if self._scheduler is None:
            return
        times = self._scheduler.next_times()
        write_state(self.config.data_dir, collect=times.collect, send=times.send)


# --- the daemon's state file, for `digest status` ---------------------------------------------


def write_state(data_dir: Path, *, collect: datetime | None, send: datetime | None) -> None:
    entry = {
        "pid": os.getpid(),
        "next_collect": collect.isoformat() if collect else None,
        "next_send": send.isoformat() if send else None,
    }
    path = _state_path(data_dir)
    partial = path.with_name(f"{path.name}.{threading.get_ident()}.partial")
    partial.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    partial.replace(path)


def read_state(data_dir: Path) -> schedule.NextTimes | None:
    """The running daemon's next collect and send times, as it last wrote them."""
    try:
        entry = json.loads(_state_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return schedule.NextTimes(
        _parse_time(entry.get("next_collect")), _parse_time(entry.get("next_send"))
    )


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def _state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


# --- digest status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    holder: Holder | None
    """The daemon or run holding the data directory, if one is alive."""
    next_collect: datetime | None
    """As the running daemon scheduled it (None when no daemon runs)."""
    next_send: datetime | None
    """As the running daemon scheduled it, else when a daemon started now would send."""
    last_edition: EditionRecord | None
    deliveries: dict[str, int]
    """The last edition's ledger: how many recipients are in each state."""
    last_run: EditionRun | None
    sources: dict[str, FetchState]
    leader: Lease | None = None
    """On a shared database: the lease of the daemon that leads (it may have run out)."""


def status(config: Config) -> Status:
    running = holder(config.data_dir)
    times = read_state(config.data_dir) if running and running.command == "daemon" else None
    if times is None:
        times = schedule.NextTimes(
            None, schedule.send_trigger(config).get_next_fire_time(None, now())
        )
    with open_store(config.data_dir, url=config.database_url) as store:
        last = store.latest_edition(series=newsletters.pattern_of(config))
        counts: dict[str, int] = {}
        for delivery in store.deliveries(last.key) if last else []:
            counts[delivery.status] = counts.get(delivery.status, 0) + 1
        return Status(
            holder=running,
            next_collect=times.collect,
            next_send=times.send,
            last_edition=last,
            deliveries=counts,
            last_run=store.latest_run(series=newsletters.pattern_of(config)),
            sources={state.key: state for state in store.fetch_states()},
            leader=store.lease(LEASE) if config.database_url else None,
        )
