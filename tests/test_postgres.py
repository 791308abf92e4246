"""Several machines on one PostgreSQL: what one builds and sends, every other sees.

Each "machine" is a config of its own with its own data directory and the same database_url;
the second one runs as a real `digest` process.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from digest import demo, pipeline
from digest.config import load_config
from digest.store import open_store
from digest.store.engine import CONNECT_TIMEOUT

from .conftest import DemoSite, digest_command, wait_for
from .crash import crash_trial
from .mailserver import free_port


@pytest.fixture
def shared(demo_site: DemoSite, fresh_postgres: str) -> DemoSite:
    demo_site.use_database(fresh_postgres)
    return demo_site


def other_machine(site: DemoSite, tmp_path: Path) -> Path:
    """A second machine's config: the same database, an empty data directory of its own."""
    config_path = tmp_path / "other" / "digest.toml"
    config_path.parent.mkdir()
    shutil.copy(site.config_path, config_path)
    text = config_path.read_text(encoding="utf-8")
    data_dir = (tmp_path / "other" / "data").as_posix()
    config_path.write_text(
        text.replace(
            f'data_dir = "{site.config().data_dir.as_posix()}"', f'data_dir = "{data_dir}"'
        ),
        encoding="utf-8",
    )
    assert load_config(config_path).data_dir != site.config().data_dir
    return config_path


@pytest.fixture
def serve_elsewhere(shared: DemoSite, tmp_path: Path) -> Iterator[str]:
    """`digest serve` as a process on the other machine; its base URL."""
    port = free_port()
    config_path = other_machine(shared, tmp_path)
    process = subprocess.Popen(
        digest_command("--config", str(config_path), "serve", "--port", str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _answers(url), timeout=30), "digest serve did not start"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/editions/", trust_env=False, timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_an_edition_built_on_one_machine_is_served_by_another(
    shared: DemoSite, serve_elsewhere: str, tmp_path: Path
) -> None:
    report = shared.build()
    assert report.edition is not None and report.email is not None
    key = report.edition.key
    with httpx.Client(base_url=serve_elsewhere, trust_env=False) as client:
        assert key in client.get("/editions/").text
        page = client.get(f"/editions/{key}/")
        assert page.status_code == 200
        assert page.content == report.paths["edition.html"].read_bytes()
        assert client.get(f"/editions/{key}/eml").content == report.paths["sample.eml"].read_bytes()
    assert not (tmp_path / "other" / "data" / "editions").exists(), "served from the store"


def test_the_whole_cycle_on_postgresql_sends_each_subscriber_once(shared: DemoSite) -> None:
    config = shared.config()
    with open_store(config.data_dir, url=config.database_url) as store:
        assert store.engine == "postgresql"
        for address, name in demo.SUBSCRIBERS:
            store.add_subscriber(address, name=name, now=shared.now)
    report = shared.build()
    assert report.edition is not None
    with open_store(config.data_dir, url=config.database_url) as store:
        assert pipeline.send(config, store, now=shared.now).counts["sent"] == len(demo.SUBSCRIBERS)
        assert pipeline.send(config, store, now=shared.now).counts["sent"] == 0
        statuses = [d.status for d in store.deliveries(report.edition.key)]
    assert statuses == ["sent"] * len(demo.SUBSCRIBERS)
    assert not (Path(config.data_dir) / "digest.sqlite3").exists(), "nothing went to SQLite"


def test_a_connection_the_server_dropped_is_replaced(fresh_postgres: str, tmp_path: Path) -> None:
    import psycopg

    open_store(tmp_path, url=fresh_postgres).close()  # its connection waits in the pool
    with psycopg.connect(fresh_postgres, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    with open_store(tmp_path, url=fresh_postgres) as store:
        assert store.add_subscriber("ana@example.com", now=datetime.now(UTC))


SUBSCRIBERS = 2_000
"""The issue asks for 10,000: that passed too (423 s on 2 loaded cores), too long for the suite."""


CONNECTIONS = 2
"""SMTP connections per sender: a kill costs at most one duplicate on each."""


@pytest.mark.slow
def test_three_senders_one_killed_give_each_subscriber_the_edition_once(
    fresh_postgres: str, tmp_path: Path
) -> None:
    """Three `digest send` processes on one PostgreSQL, one SIGKILLed mid-send (tests/crash.py)."""
    trial = crash_trial(
        tmp_path,
        random.Random(),
        subscribers=SUBSCRIBERS,
        max_kills=1,
        senders=3,
        database_url=fresh_postgres,
        connections=CONNECTIONS,
    )
    print(f"{SUBSCRIBERS} subscribers, 3 senders, {trial.kills} killed: {trial.seconds:.0f}s")
    assert trial.kills == 1
    assert trial.missing == 0
    # At most the message in flight on each of the killed sender's connections.
    assert trial.duplicates <= trial.kills * CONNECTIONS
    assert trial.ledger == {"sent": SUBSCRIBERS}


RESERVING = """
import sys, time
from pathlib import Path
from digest.store import open_store, reserve_connections
from digest.store.engine import POOL_SIZE
folder, url = Path(sys.argv[1]), sys.argv[2]
held = [open_store(folder, url=url) for _ in range(POOL_SIZE)]  # a send's lanes, say
reserve_connections(POOL_SIZE + 1)
started = time.monotonic()
open_store(folder, url=url).close()  # a job beside them
print(round(time.monotonic() - started, 3))
"""


def test_a_process_gets_the_connections_it_reserved(fresh_postgres: str, tmp_path: Path) -> None:
    """Past POOL_SIZE stores open at once in one process, one more is given at once once it
    is reserved (without, it waits CONNECT_TIMEOUT and fails: a worker's job beside a send)."""
    done = subprocess.run(
        [sys.executable, "-c", RESERVING, str(tmp_path), fresh_postgres],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < CONNECT_TIMEOUT / 2
