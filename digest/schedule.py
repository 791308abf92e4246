"""Schedule: *when* the daemon collects and sends. The only module that imports APScheduler (3.x).

    schedule.send_at + weekdays   -> SendTrigger: the first matching time of each local day
    schedule.collect_every        -> an interval trigger, with jitter
    schedule.catch_up             -> the send job's misfire_grace_time (never APScheduler's 1 s)

Both jobs run on one worker thread, one at a time, so a collect never races a send.
The job store is APScheduler's in-memory one: what was sent lives in digest's own store,
and the daemon decides at start-up whether a send time it slept through is still due.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest.config import WEEKDAYS, Config

# Standard cron numbers its days 0-7 from Sunday; APScheduler 3 counts 0 as Monday.
_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HH_MM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_NUMERIC_DAYS = re.compile(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?")
_TICK = timedelta(microseconds=1)
_LOOK_BACK_DAYS = 8
MAX_JITTER = timedelta(minutes=5)

SEND_AT_EXPECTED = "a time like '07:00' or a cron expression like '0 7 * * 1-5'"


# --- send_at -> cron fields ------------------------------------------------------------------


def cron_fields(send_at: str, weekdays: tuple[str, ...] = WEEKDAYS) -> dict[str, str]:
    """CronTrigger fields for ``send_at`` ('HH:MM' or 5-field cron); ValueError when it is neither.

    A cron expression's day-of-week field uses standard cron numbers (0 and 7 are Sunday);
    when it is '*', ``weekdays`` decide.
    """
    text = send_at.strip()
    match = _HH_MM.fullmatch(text)
    if match:
        minute, hour, day, month, dow = match[2], match[1], "*", "*", "*"
    else:
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"expected 'HH:MM' or 5 cron fields, got {len(parts)} fields")
        minute, hour, day, month, dow = parts
    days = ",".join(weekdays) if dow == "*" else _cron_day_names(dow)
    fields = {
        "minute": str(int(minute)) if minute.isdigit() else minute,
        "hour": str(int(hour)) if hour.isdigit() else hour,
        "day": day,
        "month": month,
        "day_of_week": days,
    }
    CronTrigger(**fields, timezone=UTC)  # raises ValueError on a field APScheduler rejects
    return fields


def send_at_problem(send_at: str) -> str | None:
    """None when ``send_at`` is a valid send time, else what was expected (a config check)."""
    try:
        cron_fields(send_at)
    except ValueError:
        return SEND_AT_EXPECTED
    return None


def _cron_day_names(field: str) -> str:
    """Standard cron's day-of-week field with APScheduler's day names: '1-5' -> 'mon,...,fri'."""
    names: list[str] = []
    for token in field.lower().split(","):
        match = _NUMERIC_DAYS.fullmatch(token)
        if match is None:
            names.append(token)  # names ('mon-fri') mean the same to both
            continue
        span, step = match[1], int(match[2] or 1)
        first, _, last = ("0-6" if span == "*" else span).partition("-")
        numbers = range(int(first), int(last or first) + 1, step)
        if not numbers or max(numbers) > 7 or step == 0:
            raise ValueError(f"day of week out of range: {token!r}")
        names += [_CRON_DAY_NAMES[n] for n in numbers]
    return ",".join(dict.fromkeys(names))


# --- triggers --------------------------------------------------------------------------------


class SendTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """The send times: on each local day, the first time the cron fields name.

    CronTrigger alone fires twice for a time inside a DST overlap (01:30 on the night the
    clocks go back, in Europe/London or America/New_York); an edition a day means one send
    a day, so any later time on the same local day is dropped. A time inside a DST gap
    fires once, at the same instant an hour later on the wall clock. Fire times are
    returned in UTC, so every comparison is between instants, never wall times.
    """

    def __init__(self, fields: dict[str, str], timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self.cron = CronTrigger(**fields, timezone=timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # As CronTrigger does: from just after the previous fire time, so that missed times
        # are reported (and coalesced) rather than silently stepped over.
        start = now if previous_fire_time is None else min(now, previous_fire_time + _TICK)
        candidate = self.cron.get_next_fire_time(None, start)
        while candidate is not None:
            day = self.local_date(candidate)
            first = self.first_on(day)
            if first is not None and _instant(first) == _instant(candidate):
                return _instant(candidate)
            candidate = self.cron.get_next_fire_time(None, self._midnight(day + timedelta(1)))
        return None

    def first_on(self, day: date) -> datetime | None:
        """The send time on local ``day``, or None when nothing is sent that day."""
        fire = self.cron.get_next_fire_time(None, self._midnight(day))
        if fire is None or self.local_date(fire) != day:
            return None
        return _instant(fire)

    def latest(self, now: datetime) -> datetime | None:
        """The last send time at or before ``now`` (looking back a week)."""
        today = self.local_date(now)
        for back in range(_LOOK_BACK_DAYS):
            fire = self.first_on(today - timedelta(back))
            if fire is not None and fire <= _instant(now):
                return fire
        return None

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.timezone).date()

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.timezone)

    def __str__(self) -> str:
        return f"first of each day: {self.cron}"


def _instant(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def send_trigger(config: Config) -> SendTrigger:
    fields = cron_fields(config.schedule.send_at, config.schedule.weekdays)
    return SendTrigger(fields, ZoneInfo(config.newsletter.timezone))


def collect_jitter(every: timedelta) -> timedelta:
    """Spread collects a little (a tenth of the interval, at most five minutes)."""
    return min(every / 10, MAX_JITTER)


# --- the scheduler ---------------------------------------------------------------------------


class NextTimes(NamedTuple):
    collect: datetime | None
    send: datetime | None


class Scheduler:
    """The daemon's two jobs on an APScheduler BackgroundScheduler, run one at a time.

    ``send_first`` schedules a send time that has already passed (a catch-up after
    downtime): APScheduler runs it at once if it is within ``catch_up``, else reports it
    to ``missed``. Both jobs coalesce: after a pause, a job runs once, not once per missed time.
    """

    def __init__(
        self,
        config: Config,
        *,
        collect: Callable[[], None],
        send: Callable[[], None],
        missed: Callable[[datetime], None],
        send_first: datetime | None = None,
        collect_first: datetime | None = None,
        others: Sequence[tuple[str, BaseTrigger, Callable[[], None]]] = (),
    ) -> None:
        timezone = ZoneInfo(config.newsletter.timezone)
        every = config.schedule.collect_every
        self._missed = missed
        self._scheduler = BackgroundScheduler(
            timezone=timezone,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
        )
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._scheduler.add_job(
            send,
            send_trigger(config),
            id="send",
            name="build and send",
            misfire_grace_time=grace_seconds(config.schedule.catch_up),
            coalesce=True,
            max_instances=1,
            **_first_run(send_first),
        )
        for name, trigger, job in others:  # the other newsletters' (and weekly) editions
            self._scheduler.add_job(
                job,
                trigger,
                id=f"send {name}",
                name=f"build and send {name}",
                misfire_grace_time=grace_seconds(config.schedule.catch_up),
                coalesce=True,
                max_instances=1,
            )
        self._scheduler.add_job(
            collect,
            IntervalTrigger(
                seconds=every.total_seconds(),
                jitter=int(collect_jitter(every).total_seconds()),
                timezone=timezone,
            ),
            id="collect",
            name="collect",
            # A collect that waited behind a long send still runs, once.
            misfire_grace_time=grace_seconds(every),
            coalesce=True,
            max_instances=1,
            **_first_run(collect_first),
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop scheduling; a job in hand goes on (it checks the daemon's stop flag itself)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def wake(self, at: datetime, job: Callable[[], None]) -> None:
        """Run ``job`` at ``at`` (a reader's own send time), replacing the wake-up set before."""
        self._scheduler.add_job(
            job,
            DateTrigger(run_date=at),
            id="due",
            name="send what is due",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def run_now(self, job: Callable[[], None], *, name: str) -> None:
        """Run ``job`` once, as soon as the job in hand (if any) is done."""
        self._scheduler.add_job(job, name=name, misfire_grace_time=None)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def next_times(self) -> NextTimes:
        return NextTimes(self._next_run("collect"), self._next_run("send"))

    def job_settings(self, job_id: str) -> dict[str, Any]:
        """misfire_grace_time, coalesce and max_instances of a job (for tests and `status`)."""
        job = self._scheduler.get_job(job_id)
        return {
            "misfire_grace_time": job.misfire_grace_time,
            "coalesce": job.coalesce,
            "max_instances": job.max_instances,
        }

    def _next_run(self, job_id: str) -> datetime | None:
        job = self._scheduler.get_job(job_id)
        when = getattr(job, "next_run_time", None) if job else None
        return _instant(when) if when else None

    def _on_missed(self, event: JobExecutionEvent) -> None:
        if event.job_id == "send":
            self._missed(_instant(event.scheduled_run_time))


def grace_seconds(duration: timedelta) -> int:
    """APScheduler wants a whole number of seconds, at least 1."""
    return max(int(duration.total_seconds()), 1)


def _first_run(moment: datetime | None) -> dict[str, datetime]:
    # Passing next_run_time=None would add the job paused; leave it out to let the trigger decide.
    return {"next_run_time": moment} if moment is not None else {}
