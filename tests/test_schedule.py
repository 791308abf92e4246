"""When the daemon sends: send_at and weekdays as triggers (across DST), misfires, the lock."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from digest.config import load_config
from digest.lock import AlreadyRunning, DataDirLock, holder
from digest.schedule import Scheduler, SendTrigger, cron_fields

from .test_config import problems


def fires(trigger: SendTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Fire times from ``start`` to ``end``, asked the way APScheduler asks after each run."""
    found: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        found.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return found


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


@pytest.mark.parametrize(
    ("zone", "day", "send_at", "expected"),
    [
        # Clocks go forward: 01:00-02:00 (London) and 02:00-03:00 (New York) do not exist.
        ("Europe/London", date(2026, 3, 29), "01:30", "02:30 BST"),
        ("America/New_York", date(2026, 3, 8), "02:30", "03:30 EDT"),
        # Clocks go back: 01:00-02:00 happens twice; the first pass sends.
        ("Europe/London", date(2026, 10, 25), "01:30", "01:30 BST"),
        ("America/New_York", date(2026, 11, 1), "01:30", "01:30 EDT"),
        ("America/New_York", date(2026, 11, 1), "01:00", "01:00 EDT"),
    ],
)
def test_a_send_time_in_a_dst_gap_or_overlap_fires_exactly_once_that_day(
    zone: str, day: date, send_at: str, expected: str
) -> None:
    tz = ZoneInfo(zone)
    trigger = SendTrigger(cron_fields(send_at), tz)
    found = fires(
        trigger, local_midnight(day - timedelta(2), tz), local_midnight(day + timedelta(2), tz)
    )
    assert [f.astimezone(tz).date() for f in found] == [day + timedelta(n) for n in range(-2, 2)]
    (on_the_day,) = [f for f in found if f.astimezone(tz).date() == day]
    assert f"{on_the_day.astimezone(tz):%H:%M %Z}" == expected
    assert all(f.tzinfo is UTC for f in found), "instants, never wall times"
    # The latest send time at any moment of the day after is that day's one, whatever came before.
    assert trigger.latest(local_midnight(day + timedelta(1), tz)) == on_the_day


def test_apscheduler_alone_would_fire_twice_in_the_overlap() -> None:
    """Why SendTrigger exists: CronTrigger gives 01:30 twice on the night clocks go back."""
    tz = ZoneInfo("Europe/London")
    cron = CronTrigger(hour=1, minute=30, timezone=tz)
    first = cron.get_next_fire_time(None, local_midnight(date(2026, 10, 25), tz))
    second = cron.get_next_fire_time(first, first + timedelta(seconds=1))
    assert first.astimezone(tz).date() == second.astimezone(tz).date() == date(2026, 10, 25)


def test_weekdays_and_cron_day_numbers() -> None:
    tz = ZoneInfo("Europe/Paris")
    monday = date(2026, 3, 9)
    week = (local_midnight(monday, tz), local_midnight(monday + timedelta(7), tz))

    def days(send_at: str, weekdays: tuple[str, ...] = ()) -> list[str]:
        fields = cron_fields(send_at, weekdays) if weekdays else cron_fields(send_at)
        return [f"{f.astimezone(tz):%a %H:%M}" for f in fires(SendTrigger(fields, tz), *week)]

    assert days("07:00", ("mon", "fri")) == ["Mon 07:00", "Fri 07:00"]
    # Standard cron numbers: 1-5 is Monday to Friday, 0 and 7 are Sunday (APScheduler 3 alone
    # would read 0 as Monday).
    assert days("30 6 * * 1-5") == ["Mon 06:30", "Tue 06:30", "Wed 06:30", "Thu 06:30", "Fri 06:30"]
    assert days("0 9 * * 0") == days("0 9 * * 7") == ["Sun 09:00"]
    assert days("0 9 * * sat,sun") == ["Sat 09:00", "Sun 09:00"]
    # A cron expression naming several times a day sends at the first only: one edition a day.
    # (*/3 in cron: days 0, 3 and 6, Sunday, Wednesday and Saturday.)
    assert days("0 7,19 * * */3") == ["Wed 07:00", "Sat 07:00", "Sun 07:00"]


def test_schedule_options_are_checked(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        """
[schedule]
send_at = "25:00"
weekdays = ["monday"]
collect_every = "10s"
catch_up = "soon"
""",
    ) == [
        "schedule.send_at: expected a time like '07:00' or a cron expression like '0 7 * * 1-5', got '25:00'",
        "schedule.weekdays: expected day names from 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', got a list",
        "schedule.collect_every: expected a duration of at least 1m, got '10s'",
        "schedule.catch_up: expected a duration like '90s', '30m', '6h' or '1d', got 'soon'",
    ]
    assert problems(tmp_path, '[schedule]\nsend_at = "0 7 * * 9"\n') == [
        "schedule.send_at: expected a time like '07:00' or a cron expression like '0 7 * * 1-5', got '0 7 * * 9'"
    ]
    assert problems(tmp_path, '[schedule]\nsend_at = "0 7 * * 1-5"\nweekdays = ["sat"]\n') == [
        "schedule.weekdays: expected every day (the default) when schedule.send_at's cron "
        "expression names its own days, got ['sat']"
    ]


def scheduler_config(tmp_path: Path, *, send_at: str, catch_up: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(
        f'[schedule]\nsend_at = "{send_at}"\ncatch_up = "{catch_up}"\ncollect_every = "20m"\n',
        encoding="utf-8",
    )
    return path


def test_misfire_grace_follows_catch_up_with_coalescing(tmp_path: Path) -> None:
    # A send time half a day away, so that no real one falls inside the test's window.
    send_at = f"{datetime.now(UTC) + timedelta(hours=12):%H:%M}"
    config = load_config(scheduler_config(tmp_path, send_at=send_at, catch_up="1h"))
    ran, missed = threading.Event(), threading.Event()
    missed_times: list[datetime] = []

    def on_missed(moment: datetime) -> None:
        missed_times.append(moment)
        missed.set()

    now = datetime.now(UTC)
    for late, expect in ((timedelta(minutes=30), ran), (timedelta(hours=2), missed)):
        ran.clear()
        scheduler = Scheduler(
            config, collect=lambda: None, send=ran.set, missed=on_missed, send_first=now - late
        )
        assert scheduler.job_settings("send") == {
            "misfire_grace_time": 3600,
            "coalesce": True,
            "max_instances": 1,
        }
        assert scheduler.job_settings("collect")["misfire_grace_time"] == 1200
        scheduler.start()
        try:
            assert expect.wait(5), f"{late} late: expected {'a run' if expect is ran else 'a miss'}"
        finally:
            scheduler.shutdown()
    assert not ran.is_set(), "two hours late, past catch_up: not run"
    assert missed_times == [now - timedelta(hours=2)]


def test_one_holder_per_data_directory(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, "daemon"):
        found = holder(tmp_path)
        assert found is not None and (found.command, found.pid) == ("daemon", os.getpid())
        with pytest.raises(AlreadyRunning) as refused:
            DataDirLock(tmp_path, "run").__enter__()
        assert refused.value.exit_code == 2
        assert str(refused.value) == (
            f"{tmp_path}: {found} is already using this data directory; "
            "stop it first (one daemon per data directory)"
        )
    assert holder(tmp_path) is None
    with DataDirLock(tmp_path, "run"):
        assert holder(tmp_path) is not None
