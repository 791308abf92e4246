"""Daemons on several machines sharing one PostgreSQL: one leads, and a killed leader is replaced.

Real processes: two `digest daemon`s, each with a data directory of its own, the demo site over
HTTP, a slow aiosmtpd server, and SIGKILL for the leader in the middle of its send.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from digest.store import open_store

from .conftest import DemoSite, wait_for
from .test_daemon import (  # noqa: F401 (fixtures)
    Daemon,
    Daemons,
    SlowCollector,
    SlowServer,
    daemon_config,
    daemons,
    digest,
    slow_smtp,
    utc,
)


def second_machine(config_path: Path, tmp_path: Path) -> Path:
    """The same config with a data directory of its own: another machine on the same database."""
    other = tmp_path / "machine-b" / "digest.toml"
    other.parent.mkdir()
    shutil.copy(config_path, other)
    text = other.read_text(encoding="utf-8")
    text = text.replace(
        f'data_dir = "{(tmp_path / "data").as_posix()}"',
        f'data_dir = "{(other.parent / "data").as_posix()}"',
    )
    other.write_text(text, encoding="utf-8")
    return other


Machines = tuple[DemoSite, SlowServer, Path, Path]


@pytest.fixture
def machines(
    demo_site: DemoSite,
    slow_smtp: tuple[SlowServer, SlowCollector],  # noqa: F811
    fresh_postgres: str,
    tmp_path: Path,
) -> Machines:
    """The demo site, a slow SMTP server, and two machines' configs on one PostgreSQL."""
    smtp, _ = slow_smtp
    first_config = daemon_config(demo_site, smtp)
    demo_site.use_database(fresh_postgres)
    return demo_site, smtp, first_config, second_machine(first_config, tmp_path)


@pytest.mark.slow
def test_the_leader_killed_mid_send_is_replaced_and_the_edition_goes_out_once(
    machines: Machines,
    daemons: Daemons,  # noqa: F811
) -> None:
    demo_site, smtp, first_config, second_config = machines
    config = demo_site.config()
    readers = [f"reader{n:02}@example.com" for n in range(40)]
    with open_store(config.data_dir, url=config.database_url) as store:
        for address in readers:
            store.add_subscriber(address, now=demo_site.now - timedelta(days=3))

    at = utc("2026-03-10T06:59:55")  # (started late, the leader catches the edition up)
    started = [daemons.start(first_config, at=at), daemons.start(second_config, at=at)]
    assert wait_for(lambda: any(d.events("lead") for d in started), timeout=30), _logs(started)
    leader = next(d for d in started if d.events("lead"))
    follower = next(d for d in started if d is not leader)
    assert follower.wait_for("follow")["leader"]
    assert wait_for(lambda: len(smtp.messages) >= 5, timeout=60), _logs(started)
    assert not follower.events("lead") and not follower.events("collect")

    leader.process.kill()
    killed = time.monotonic()
    leader.process.wait()
    follower.wait_for("lead", timeout=40)
    took = time.monotonic() - killed
    print(f"leader SIGKILLed; the other daemon led after {took:.1f}s")
    assert took < 30
    sent = follower.wait_for("send", timeout=60)
    assert sent["edition"] == "2026-03-10"
    assert sent["sent"] > 0, "the leader was killed after its send, not in the middle of it"
    assert follower.stop()[0] == 0

    got = Counter(rcpt for rcpts, _ in smtp.messages for rcpt in rcpts)
    assert set(got) == set(readers), "nobody missing"
    # At most the message in flight on each of the killed leader's SMTP connections.
    in_flight = config.smtp.connections
    assert sum(got.values()) - len(readers) <= in_flight, f"more than in flight again: {got}"
    with open_store(config.data_dir, url=config.database_url) as store:
        assert [e.key for e in store.edition_index()] == ["2026-03-10"]
        run = store.edition_run("2026-03-10")
        assert run is not None and run.outcome == "sent"
    assert not (second_config.parent / "data" / "digest.sqlite3").exists()


def _logs(started: list[Daemon]) -> str:
    return "\n---\n".join(d.log.read_text(encoding="utf-8") for d in started)


def test_digest_run_does_nothing_while_a_daemon_leads(
    machines: Machines,
    daemons: Daemons,  # noqa: F811
) -> None:
    _, smtp, first_config, second_config = machines
    begin, started = utc("2026-03-10T05:00:00"), time.monotonic()
    leader = daemons.start(first_config, at=begin)
    held_by = leader.wait_for("lead", timeout=30)
    assert held_by["term"] == 1

    def clock() -> datetime:
        """The daemon's (fake) clock, give or take its start-up: leases need clocks that agree."""
        return begin + timedelta(seconds=time.monotonic() - started)

    refused = digest(second_config, "run", at=clock())
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("digest: error: ")
    assert f":{leader.pid}:" in refused.stderr
    assert "leads the digests sharing this database" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    shown = digest(second_config, "status", at=clock())
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("leader "))
    assert line.startswith("leader        ") and f":{leader.pid}:" in line
    assert "(term 1), held until 2026-03-10 05:" in line
    assert leader.stop()[0] == 0
    assert not smtp.messages
