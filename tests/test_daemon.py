"""`digest daemon`, `digest run` and `digest status` as real processes.

Each test serves the demo site over real HTTP and receives mail with a real aiosmtpd
server. The processes' clocks start at DIGEST_FAKE_NOW, a few seconds before a send time,
and tick on in real time, so the scheduler really waits for the send time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from digest import demo
from digest.demo.site import Content, guid
from digest.store import open_store

from .conftest import DemoSite, digest_command, free_port, wait_for
from .mailserver import MailServer

PARIS = ZoneInfo("Europe/Paris")


# --- processes -------------------------------------------------------------------------------


def env_at(moment: datetime) -> dict[str, str]:
    return {**os.environ, "DIGEST_FAKE_NOW": moment.isoformat()}


def digest(
    config: Path, *args: str, at: datetime, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        digest_command("--config", str(config), *args),
        capture_output=True,
        text=True,
        env=env_at(at),
        timeout=timeout,
    )


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        entries = [_entry(line) for line in self.log.read_text(encoding="utf-8").splitlines()]
        return [e for e in entries if name is None or e["event"] == name]

    def wait_for(self, name: str, timeout: float = 20) -> dict[str, Any]:
        assert wait_for(lambda: bool(self.events(name)) or self.process.poll() is not None, timeout)
        found = self.events(name)
        assert found, f"no {name!r} event; the daemon said: {self.log.read_text(encoding='utf-8')}"
        return found[0]

    def stop(self) -> tuple[int, float]:
        """SIGTERM; the exit status and how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        return code, time.monotonic() - started


def _entry(line: str) -> dict[str, Any]:
    try:
        entry: dict[str, Any] = json.loads(line)
    except ValueError:
        return {"event": "not JSON", "message": line}  # a traceback, say: shown on failure
    return entry


@dataclass
class Daemons:
    folder: Path
    started: list[Daemon] = field(default_factory=list)

    def start(self, config: Path, at: datetime) -> Daemon:
        log = self.folder / f"daemon-{len(self.started)}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                digest_command("--config", str(config), "daemon", "--log-format", "json"),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env_at(at),
            )
        daemon = Daemon(process, log)
        self.started.append(daemon)
        return daemon


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    started = Daemons(tmp_path)
    yield started
    for daemon in started.started:  # only if a test failed half-way
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


# --- set-up ----------------------------------------------------------------------------------


def daemon_config(
    site: DemoSite, smtp: MailServer | SlowServer, *, timezone: str = "UTC", send_at: str = "07:00"
) -> Path:
    text = site.config_path.read_text(encoding="utf-8").replace(
        'timezone = "UTC"', f'timezone = "{timezone}"'
    )
    text += f"""
[delivery]
transport = "smtp"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"

[schedule]
send_at = "{send_at}"
"""
    site.config_path.write_text(text, encoding="utf-8")
    return site.config_path


def subscribe(site: DemoSite, count: int) -> list[str]:
    addresses = [f"reader{n:02}@example.com" for n in range(count)]
    with open_store(site.config().data_dir) as store:
        for address in addresses:
            store.add_subscriber(address, now=site.now - timedelta(days=3))
    return addresses


def received(smtp: MailServer | SlowServer) -> Counter[str]:
    return smtp.per_recipient()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the daemon ------------------------------------------------------------------------------


def test_one_edition_at_send_at_a_second_daemon_refused_a_restart_sends_nothing(
    demo_site: DemoSite, smtp_server: MailServer, daemons: Daemons
) -> None:
    config = daemon_config(demo_site, smtp_server, timezone="Europe/Paris", send_at="08:00")
    readers = subscribe(demo_site, 3)
    first = daemons.start(config, at=datetime(2026, 3, 10, 7, 59, 56, tzinfo=PARIS))
    first.wait_for("start")

    second = digest(config, "daemon", at=datetime(2026, 3, 10, 7, 59, 57, tzinfo=PARIS))
    assert second.returncode == 2
    data_dir = demo_site.config().data_dir
    assert second.stderr.startswith(
        f"digest: error: {data_dir}: digest daemon (pid {first.pid}, since 2026-03-10 06:59 UTC) "
        "is already using this data directory"
    )
    assert len(second.stderr.splitlines()) == 1

    sent = first.wait_for("send")
    assert (sent["edition"], sent["sent"], sent["failed"]) == ("2026-03-10", 3, 0)
    edition = first.wait_for("edition")
    assert utc(edition["scheduled"][:19]) == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 CET
    assert 0 <= edition["late_seconds"] < 15, "sent by the scheduler at the send time"
    assert not first.events("catch-up")
    assert first.stop()[0] == 0
    assert received(smtp_server) == dict.fromkeys(readers, 1)

    # Restarted the same day: the edition is settled, nothing more is sent.
    again = daemons.start(config, at=datetime(2026, 3, 10, 8, 30, tzinfo=PARIS))
    assert (
        "2026-03-10 (due 2026-03-10 08:00 CET) is already sent"
        in again.wait_for("edition")["message"]
    )
    again.wait_for("collect")
    status = digest(config, "status", at=datetime(2026, 3, 10, 8, 31, tzinfo=PARIS))
    assert status.returncode == 0, status.stderr
    head, lines = status.stdout.splitlines()[:3], status.stdout.splitlines()[3:]
    data_dir = demo_site.config().data_dir
    assert head == [
        f"config        {config}",
        f"data          {data_dir}",
        "templates     the default theme",
    ]
    assert lines[0].startswith(f"daemon        running: digest daemon (pid {again.pid}")
    assert lines[1].startswith("next collect  2026-03-10 0") and lines[1].endswith("CET")
    assert lines[2] == "next send     2026-03-11 08:00 CET, edition 2026-03-11"
    assert lines[3].startswith("last edition  2026-03-10 (issue 1): ")
    assert lines[3].endswith(" articles; 3 sent, 0 failed")
    assert lines[4] == "last run      2026-03-10: sent (3 sent, 0 deferred, 0 failed, 0 skipped)"
    assert sum(1 for line in lines if line.startswith("EconoTimes ")) == 5
    assert again.stop()[0] == 0
    assert not again.events("send")
    assert received(smtp_server) == dict.fromkeys(readers, 1)


def test_stopped_across_the_send_time_and_restarted_within_catch_up_sends_once(
    demo_site: DemoSite, smtp_server: MailServer, daemons: Daemons
) -> None:
    config = daemon_config(demo_site, smtp_server)
    readers = subscribe(demo_site, 3)
    before = daemons.start(config, at=datetime(2026, 3, 10, 6, 59, tzinfo=UTC))
    before.wait_for("collect")
    assert before.stop()[0] == 0
    assert not smtp_server.received

    after = daemons.start(config, at=datetime(2026, 3, 10, 7, 20, tzinfo=UTC))
    catch_up = after.wait_for("catch-up")
    assert catch_up["message"] == (
        "edition 2026-03-10 was due at 2026-03-10 07:00 UTC: sending it now, 20m late"
    )
    assert after.wait_for("send")["sent"] == 3
    assert after.stop()[0] == 0
    assert received(smtp_server) == dict.fromkeys(readers, 1)


def test_after_catch_up_nothing_is_sent_and_the_articles_go_into_the_next_edition(
    demo_site: DemoSite, smtp_server: MailServer, daemons: Daemons
) -> None:
    config = daemon_config(demo_site, smtp_server)
    readers = subscribe(demo_site, 2)
    site = demo_site.server
    # Monday's edition, by `digest run` (its logs are text lines).
    demo.write_site(site.folder, base_url=site.base_url, now=utc("2026-03-09T06:00"))
    monday = digest(config, "run", at=utc("2026-03-09T07:00"))
    assert monday.returncode == 0, monday.stderr
    assert any(
        line.endswith("info    send: edition 2026-03-09: 2 sent, 0 deferred, 0 failed, 0 skipped")
        for line in monday.stderr.splitlines()
    ), monday.stderr

    # New articles on Tuesday; the daemon is down at 07:00 and starts at 13:30, past catch_up.
    later = later_articles()
    demo.write_site(site.folder, base_url=site.base_url, now=utc("2026-03-10T09:00"), content=later)
    late = daemons.start(config, at=utc("2026-03-10T13:30"))
    missed = late.wait_for("missed")
    assert missed["message"].startswith(
        "edition 2026-03-10 due 2026-03-10 07:00 UTC, 6h 30m before digest could send it: "
        "past schedule.catch_up (6h), so not sent"
    )
    assert late.wait_for("collect")["new"] == len(later.articles)
    assert late.stop()[0] == 0
    assert received(smtp_server) == dict.fromkeys(readers, 1)

    # Wednesday's edition carries Tuesday's articles, even those older than collect.window.
    wednesday = daemons.start(config, at=utc("2026-03-11T06:59:57"))
    assert wednesday.wait_for("send")["sent"] == 2
    assert wednesday.stop()[0] == 0
    assert received(smtp_server) == dict.fromkeys(readers, 2)
    with open_store(demo_site.config().data_dir) as store:
        assert store.edition("2026-03-10") is None
        run = store.edition_run("2026-03-10")
        assert run is not None and run.outcome == "missed"
        edition = store.edition("2026-03-11")
        assert edition is not None
        assert set(edition.article_ids) == later_ids(later)
        oldest = min(store.article(i).published for i in edition.article_ids)  # type: ignore[union-attr]
    assert oldest < utc("2026-03-10T07:00"), "an article from before the window, folded in"
    subjects = [r.message["Subject"] for r in smtp_server.received]
    assert len(set(subjects)) == 2

    status = digest(config, "status", at=utc("2026-03-11T09:00"))
    assert status.stdout.splitlines()[3:8] == [
        "daemon        not running",
        "next collect  when the daemon runs",
        "next send     2026-03-12 07:00 UTC, edition 2026-03-12 (if the daemon runs)",
        "last edition  2026-03-11 (issue 2): 6 articles; 2 sent, 0 failed",
        "last run      2026-03-11: sent (2 sent, 0 deferred, 0 failed, 0 skipped)",
    ]


TUESDAY_TOPICS = (
    ("Cocoa auction prices", "growers", "Abidjan", "exporters", "chocolatiers"),
    ("Wheat harvest", "grain", "Kansas", "bushels", "millers"),
    ("Ferry ticket sales", "operators", "Bergen", "travellers", "port officials"),
    ("Copper mine strike", "miners", "Antofagasta", "smelters", "unions"),
    ("Hotel bookings", "tourism", "Kyoto", "visitors", "travel agents"),
    ("Chip export licences", "semiconductors", "Hsinchu", "foundries", "regulators"),
)


def later_articles() -> Content:
    """Six new stories for Tuesday, published from 25 h to 3 h before 09:00.

    Each on a topic of its own, so story grouping cannot take any of them for a story
    Monday's edition already carried.
    """
    content = demo.load_content()
    picked = content.articles[:6]
    return replace(
        content,
        articles=tuple(
            replace(
                a,
                slug=f"{a.slug}-later",
                title=f"{topic} Move Sharply on Tuesday",
                teaser=f"{topic} moved sharply, {thing} say.",
                event="",
                hours_ago=hours,
                body=(
                    f"{topic} moved sharply on Tuesday, as {thing} in {place} reported a week unlike any other.\n\n"
                    f"The {who} said the change came without warning, and {also} expect it to last.\n\n"
                    f"Analysts who follow {thing} in {place} said the move was the largest since records began."
                ),
            )
            for a, hours, (topic, thing, place, who, also) in zip(
                picked, (3, 6, 10, 14, 20, 25), TUESDAY_TOPICS, strict=True
            )
        ),
    )


def later_ids(content: Content) -> set[str]:
    return {guid(content.feeds[a.feed], a) for a in content.articles}


# --- stopping during a send --------------------------------------------------------------------


class SlowCollector:
    """An SMTP handler that takes ``delay`` seconds to accept each message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.delay = 0.2

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.original_content))
        )
        return "250 Message accepted for delivery"


@dataclass
class SlowServer:
    host: str
    port: int
    messages: list[tuple[list[str], Message]]

    def per_recipient(self) -> Counter[str]:
        return Counter(rcpt for rcpts, _ in self.messages for rcpt in rcpts)


@pytest.fixture
def slow_smtp() -> Iterator[tuple[SlowServer, SlowCollector]]:
    from aiosmtpd.controller import Controller

    handler = SlowCollector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield SlowServer("127.0.0.1", port, handler.messages), handler
    controller.stop()


def test_sigterm_during_a_send_exits_quickly_and_the_next_run_completes_without_duplicates(
    demo_site: DemoSite, slow_smtp: tuple[SlowServer, SlowCollector], daemons: Daemons
) -> None:
    smtp, handler = slow_smtp
    config = daemon_config(demo_site, smtp)
    readers = subscribe(demo_site, 40)
    daemon = daemons.start(config, at=utc("2026-03-10T06:59:58"))
    assert wait_for(lambda: len(smtp.messages) >= 5, timeout=30), daemon.log.read_text()
    code, took = daemon.stop()
    print(f"SIGTERM during a send: exit {code} after {took:.2f}s")
    assert code == 0
    assert took < 5
    delivered = len(smtp.messages)
    assert 5 <= delivered < 40, "stopped half-way"
    stopped = daemon.wait_for("send")
    assert (stopped["sent"], stopped["waiting"]) == (delivered, 40 - delivered)
    with open_store(demo_site.config().data_dir) as store:
        states = Counter(d.status for d in store.deliveries("2026-03-10"))
    # The message in flight was finished and recorded: nothing is left 'sending'.
    assert states == {"sent": delivered, "pending": 40 - delivered}

    handler.delay = 0
    finish = digest(config, "run", "--log-format", "json", at=utc("2026-03-10T07:10"))
    assert finish.returncode == 0, finish.stderr
    events = [json.loads(line) for line in finish.stderr.splitlines()]
    assert [e["event"] for e in events] == ["resume", "send", "edition"]
    assert events[1]["sent"] == 40 - delivered
    assert received(smtp) == dict.fromkeys(readers, 1)
    with open_store(demo_site.config().data_dir) as store:
        run = store.edition_run("2026-03-10")
        assert run is not None and run.outcome == "sent"


# --- only if new; catching up past midnight ------------------------------------------------------


def test_too_few_new_articles_skip_the_day_once_and_say_so(
    demo_site: DemoSite, smtp_server: MailServer
) -> None:
    config = daemon_config(demo_site, smtp_server)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[edition]\n", "[edition]\nmin_articles = 100\n"
        ),
        encoding="utf-8",
    )
    subscribe(demo_site, 2)
    first = digest(config, "run", "--log-format", "json", at=utc("2026-03-10T07:00"))
    assert first.returncode == 0, first.stderr
    skip = [json.loads(line) for line in first.stderr.splitlines()][-1]
    assert (skip["event"], skip["message"]) == (
        "skip",
        f"2026-03-10: no edition: {len(demo.load_content().articles)} new articles "
        "(need 100: edition.min_articles)",
    )
    again = digest(config, "run", at=utc("2026-03-10T09:00"))
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1].endswith(
        "edition: edition 2026-03-10 is already skipped (no edition: "
        f"{len(demo.load_content().articles)} new articles "
        "(need 100: edition.min_articles)); `digest run` makes one edition a day: "
        "to make and send it anyway, `digest build && digest send`"
    )
    assert not smtp_server.received
    with open_store(demo_site.config().data_dir) as store:
        assert store.latest_edition() is None


def test_a_catch_up_past_midnight_builds_the_edition_of_the_day_it_was_due(
    demo_site: DemoSite,
) -> None:
    import time_machine

    from digest import cycle

    config = demo_site.config()
    subscribe(demo_site, 1)
    with time_machine.travel(utc("2026-03-11T00:30"), tick=False):
        cycle.edition_cycle(config, scheduled=utc("2026-03-10T23:30"), should_stop=lambda: False)
    with open_store(config.data_dir) as store:
        assert store.edition("2026-03-11") is None
        edition = store.edition("2026-03-10")
        assert edition is not None and edition.built == utc("2026-03-10T23:30")
        assert [d.status for d in store.deliveries("2026-03-10")] == ["sent"]
        run = store.edition_run("2026-03-10")
        assert run is not None and run.outcome == "sent"


@pytest.mark.slow
def test_the_daemon_wakes_when_a_readers_own_send_time_comes(
    demo_site: DemoSite, smtp_server: MailServer, daemons: Daemons
) -> None:
    """A reader in Kathmandu (UTC+5:45) chose 12:46 there: one minute after the edition.

    The daemon starts 40 seconds before that, past the edition's 07:00 (it catches the edition
    up at once), so that the test waits 40 seconds for the reader's time, not a minute. (With
    25 the catch-up's collect and build did not always finish first on a loaded machine.)
    """
    from digest.models import DEFAULT_NEWSLETTER, Membership

    config = daemon_config(demo_site, smtp_server)
    readers = subscribe(demo_site, 3)
    with open_store(demo_site.config().data_dir) as store:
        later = Membership(DEFAULT_NEWSLETTER, send_time="12:46", timezone="Asia/Kathmandu")
        store.set_memberships(readers[2], [later], now=demo_site.now)
    daemon = daemons.start(config, at=datetime(2026, 3, 10, 7, 0, 20, tzinfo=UTC))
    assert daemon.wait_for("catch-up")["message"].startswith("edition 2026-03-10 was due at")
    first = daemon.wait_for("send", timeout=40)
    assert utc(first["time"][:19]) < datetime(2026, 3, 10, 7, 1, tzinfo=UTC), (
        "the daemon took 40 s to start and send: the reader's own time came first"
    )
    assert (first["edition"], first["sent"], first["later"]) == ("2026-03-10", 2, 1)
    assert received(smtp_server) == dict.fromkeys(readers[:2], 1)
    assert wait_for(lambda: len(daemon.events("send")) == 2, timeout=60)
    second = daemon.events("send")[1]
    assert (second["sent"], second["later"]) == (1, 0)
    assert utc(second["time"][:19]) >= datetime(2026, 3, 10, 7, 1, tzinfo=UTC)
    assert daemon.stop()[0] == 0
    assert received(smtp_server) == dict.fromkeys(readers, 1)
    with open_store(demo_site.config().data_dir) as store:
        row = next(d for d in store.deliveries("2026-03-10") if d.email == readers[2])
    assert row.due == datetime(2026, 3, 10, 7, 1, tzinfo=UTC) and row.status == "sent"
    assert row.updated is not None and row.updated >= row.due


def test_a_daemon_started_after_another_newsletters_send_time_catches_it_up(
    demo_site: DemoSite, smtp_server: MailServer, daemons: Daemons
) -> None:
    """config/demo.toml's "Markets Morning" goes at 06:30 in Tokyo (21:30 UTC the day before);
    a daemon started half an hour later sends it to its reader, once."""
    from digest.models import Membership

    config = daemon_config(demo_site, smtp_server)
    (reader,) = subscribe(demo_site, 1)
    with open_store(demo_site.config().data_dir) as store:
        store.set_memberships(reader, [Membership("markets")], now=demo_site.now)
    daemon = daemons.start(config, at=datetime(2026, 3, 10, 22, 0, tzinfo=UTC))
    caught = daemon.wait_for("catch-up", timeout=60)
    assert caught["message"].startswith(
        "edition markets/2026-03-11 was due at 2026-03-11 06:30 JST: sending it now, 30m"
    )
    sent = daemon.wait_for("send", timeout=60)
    assert (sent["edition"], sent["sent"]) == ("markets/2026-03-11", 1)
    assert daemon.stop()[0] == 0
    assert received(smtp_server) == {reader: 1}
