"""A PostgreSQL connection lost in the middle of a command (the server ended it, here with
pg_terminate_backend, as a restart or a failover does): one line naming the server and the
database, exit 1, no traceback; the ledger keeps what was done."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psycopg

from digest.config import Config

from .conftest import digest_command, wait_for
from .crash import prepare
from .databases import MAINTENANCE, postgres_database
from .mailserver import MailServer
from .test_queue import queue_the_send


def terminate_others(url: str) -> int:
    """End every other connection to the database of ``url``; how many there were."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()"""
        ).fetchall()
    return len(rows)


def start(config: Config, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        digest_command("--config", str(config.path), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
    )


def lost_line(url: str) -> str:
    """The start of the line: which server and database, and what happened."""
    name = url.rsplit("/", 1)[1]
    return (
        f"digest: error: PostgreSQL database {name} on 127.0.0.1:5432: lost the connection "
        "to PostgreSQL"
    )


def test_a_send_whose_connection_is_ended_says_so_in_one_line_and_exits_1(
    tmp_path: Path, fresh_postgres: str
) -> None:
    with MailServer(reply_delay=0.05) as server:
        config = prepare(tmp_path, server, 200, database_url=fresh_postgres, connections=1)
        send = start(config, "send")
        assert wait_for(lambda: server.count() >= 5, 60)
        assert terminate_others(fresh_postgres) >= 1
        _, err = send.communicate(timeout=60)
    assert send.returncode == 1, err.decode()
    # One line; the reason is the server's or the client's, by when the end was noticed.
    [line] = err.decode().splitlines()
    assert line.startswith(f"{lost_line(fresh_postgres)} ("), line
    assert 5 <= server.count() < 200


def test_a_worker_whose_connections_are_ended_reconnects_and_takes_the_next_job(
    tmp_path: Path, fresh_postgres: str
) -> None:
    """A worker is a service: a database restart must not end it (its pool reconnects)."""
    with MailServer() as server:
        config = prepare(
            tmp_path, server, 3, database_url=fresh_postgres, extra="[workers]\nenabled = true\n"
        )
        worker, log = start_worker(config, tmp_path)
        try:
            assert wait_for(lambda: ": taking " in log.read_text(), 60)
            assert wait_for(lambda: terminate_others(fresh_postgres) >= 1, 30)
            queue_the_send(config)
            assert wait_for(lambda: server.count() == 3, 60), log.read_text()
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    assert worker.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_worker_whose_database_is_gone_gives_up_in_one_line_and_exits_1(tmp_path: Path) -> None:
    with postgres_database() as url, MailServer() as server:
        config = prepare(tmp_path, server, 1, database_url=url, extra="[workers]\nenabled = true\n")
        worker, log = start_worker(config, tmp_path)
        assert wait_for(lambda: ": taking " in log.read_text(), 60)
        with psycopg.connect(MAINTENANCE, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")
        worker.wait(timeout=60)
    assert worker.returncode == 1, log.read_text()
    assert "Traceback" not in log.read_text()
    last = log.read_text().splitlines()[-1]
    gone = lost_line(url).split(" lost")[0]  # the server and database
    assert last.startswith(f"{gone} lost the job queue ("), last
    assert last.endswith("; no luck reconnecting for 10s"), last


def test_a_worker_whose_database_goes_during_a_job_still_ends_in_one_line(tmp_path: Path) -> None:
    """The job in hand cannot record its end (procrastinate's task for it fails, and nothing
    asks for that error): asyncio must not add its "never retrieved" after the last line."""
    with postgres_database() as url, MailServer(reply_delay=2.0) as server:
        config = prepare(tmp_path, server, 1, database_url=url, extra="[workers]\nenabled = true\n")
        worker, log = start_worker(config, tmp_path)
        assert wait_for(lambda: ": taking " in log.read_text(), 60)
        queue_the_send(config)
        assert wait_for(lambda: server.count() == 1, 60), log.read_text()  # its reply waits
        with psycopg.connect(MAINTENANCE, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")
        worker.wait(timeout=60)
    assert worker.returncode == 1, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text
    assert "never retrieved" not in text, text
    assert text.splitlines()[-1].endswith("; no luck reconnecting for 10s"), text


def start_worker(config: Config, folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`digest worker`, its output (stdout and stderr) going to a file."""
    log = folder / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            digest_command("--config", str(config.path), "worker"),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
        )
    return worker, log
