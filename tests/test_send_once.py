"""Send once, held by the data: senders at once as real processes, claims and leases in the
ledger, edition versions, the slow end-of-DATA reply, and what the ledger says throughout."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from digest import pipeline
from digest.config import load_config
from digest.models import Email
from digest.store import Store, open_store

from . import newsroom
from .conftest import HttpServer, digest_command, respond
from .crash import prepare
from .mailserver import MailServer
from .samples import NOW

KEY = "2026-03-10"


def command(config_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
    )


# --- many senders ----------------------------------------------------------------------------


def test_three_sends_and_a_run_at_once_give_each_subscriber_the_edition_once(
    tmp_path: Path,
) -> None:
    with MailServer() as server:
        config = prepare(tmp_path, server, 300)
        with open_store(config.data_dir) as store:
            # A send was cut short before anyone got it: `digest run` finishes it too.
            store.plan_deliveries(KEY, [s.email for s in store.subscribers()], now=NOW)
        processes = [command(config.path, "send") for _ in range(3)]
        processes.append(command(config.path, "run"))
        for process in processes:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err.decode()
        received = server.per_recipient()
        senders = server.connections()
    assert len(received) == 300
    assert set(received.values()) == {1}, Counter(received.values())
    with open_store(config.data_dir) as store:
        assert Counter(d.status for d in store.deliveries(KEY)) == {"sent": 300}
    print(f"{senders} connections shared the 300 messages")


def test_one_send_over_three_connections_gives_each_subscriber_the_edition_once(
    tmp_path: Path,
) -> None:
    with MailServer() as server:
        config = prepare(tmp_path, server, 60, connections=3)
        with open_store(config.data_dir) as store:
            report = pipeline.send(config, store, now=NOW)
        received = server.per_recipient()
        connections = server.connections()
    assert report.counts["sent"] == 60
    assert len(received) == 60
    assert set(received.values()) == {1}, Counter(received.values())
    assert 1 < connections <= 3


# --- the ledger's claims ---------------------------------------------------------------------


@pytest.fixture
def store(engine_store: Store) -> Store:
    """The claim tests run on SQLite and on PostgreSQL (tests/conftest.py: engine_store)."""
    return engine_store


def planned(store: Store, *emails: str) -> int:
    store.save_edition(Email(KEY, "s", "<p>", "t", "p"), number=1, built=NOW, article_ids=[])
    store.plan_deliveries(KEY, emails, now=NOW)
    record = store.edition(KEY)
    assert record is not None
    return record.version


def claim(store: Store, who: str, *, version: int = 1, at: timedelta = timedelta(0)) -> list[str]:
    won = store.claim_deliveries(
        KEY,
        version=version,
        claimant=who,
        now=NOW + at,
        lease_until=NOW + at + timedelta(minutes=10),
        limit=2,
    )
    assert won is not None
    return [d.email for d in won]


def test_a_row_is_won_by_one_claimant_and_falls_due_again_when_its_lease_ends(
    store: Store,
) -> None:
    planned(store, "a@example.com", "b@example.com", "c@example.com")
    first, second = claim(store, "one"), claim(store, "two")
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    assert claim(store, "three") == []
    # "one" is gone: once its lease has ended its rows are due again, for someone else.
    assert claim(store, "three", at=timedelta(minutes=11)) == first
    # "one" comes back: it holds nothing any more, and can record nothing.
    assert not store.finish_delivery(KEY, first[0], claimant="one", status="sent", now=NOW)
    assert store.renew_claims(KEY, claimant="one", lease_until=NOW) == set()
    assert store.finish_delivery(KEY, first[0], claimant="three", status="sent", now=NOW)
    # A row that is sent stays sent, whoever says otherwise.
    assert not store.finish_delivery(KEY, first[0], claimant="three", status="failed", now=NOW)
    assert claim(store, "four", at=timedelta(hours=1)) == [first[1], *second]
    states = {d.email: (d.status, d.attempts) for d in store.deliveries(KEY)}
    assert states[first[0]] == ("sent", 1)


def test_released_rows_are_due_at_once_as_they_were(store: Store) -> None:
    planned(store, "a@example.com", "b@example.com")
    won = claim(store, "one")
    store.finish_delivery(KEY, won[0], claimant="one", status="sending", reply="451 busy", now=NOW)
    assert store.release_claims(KEY, claimant="one", now=NOW) == 2
    states = {d.email: (d.status, d.reply) for d in store.deliveries(KEY)}
    assert states == {won[0]: ("deferred", "451 busy"), won[1]: ("pending", "")}
    assert sorted(claim(store, "two")) == sorted(won)


def test_a_build_never_replaces_a_version_a_send_has_claimed(store: Store) -> None:
    version = planned(store, "a@example.com")
    rebuilt = Email(KEY, "s2", "<p>2", "t2", "p")
    # Before any claim a rebuild replaces it (compare-and-set on the version it read)...
    assert store.save_edition(rebuilt, number=1, built=NOW, article_ids=["x"], replacing=version)
    assert not store.save_edition(rebuilt, number=1, built=NOW, article_ids=[], replacing=version)
    # ...and a send that planned against the old version claims nothing: it must reload.
    assert (
        store.claim_deliveries(
            KEY, version=version, claimant="s", now=NOW, lease_until=NOW, limit=5
        )
        is None
    )
    current = store.edition(KEY)
    assert current is not None and current.version == version + 1 and not current.sealed
    assert claim(store, "s", version=current.version) == ["a@example.com"]
    sealed = store.edition(KEY)
    assert sealed is not None and sealed.sealed
    # Once claimed, no build replaces it, whatever version it read.
    later = Email(KEY, "s3", "<p>3", "t3", "p")
    assert not store.save_edition(
        later, number=1, built=NOW, article_ids=["y"], replacing=sealed.version
    )
    assert not store.save_edition(later, number=1, built=NOW, article_ids=["y"])
    kept = store.edition(KEY)
    assert kept is not None and kept.email.subject == "s2" and kept.article_ids == ("x",)


# --- the slow end-of-DATA reply --------------------------------------------------------------


def test_no_reply_to_the_end_of_data_is_unknown_retried_once_later_and_shown(
    tmp_path: Path,
) -> None:
    with MailServer(reply_delay=2.5) as server:
        config = prepare(tmp_path, server, 2)
        config_text = config.path.read_text(encoding="utf-8")
        config.path.write_text(
            config_text.replace("[smtp]\n", '[smtp]\ndata_timeout = "1s"\n'), encoding="utf-8"
        )
        first = command(config.path, "send")
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err.decode()
        assert "0 sent" in out.decode() and "2 unknown" in out.decode()
        # Not retried at once: a second send finds nothing due.
        later = load_config(config.path)
        with open_store(later.data_dir) as store:
            assert pipeline.send(later, store).counts["unknown"] == 0
        assert sorted(server.per_recipient().values()) == [1, 1]
        shown = command(config.path, "deliveries")
        listing, _ = shown.communicate(timeout=60)
        lines = listing.decode().splitlines()
        assert lines[0].startswith("unknown    1  reader0000@example.com  no reply to the end")
        assert "(next try " in lines[0]
        assert lines[-1] == f"edition {KEY}: 2 recipients: 2 unknown"
        # Later it is retried once; a second unknown outcome is left as it is.
        with open_store(later.data_dir) as store:
            for hours in (2, 4):
                pipeline.send(later, store, now=pipeline.utcnow() + timedelta(hours=hours))
            rows = store.deliveries(KEY)
        assert sorted(server.per_recipient().values()) == [2, 2]
    assert [(d.status, d.attempts, d.unknowns, d.next_attempt) for d in rows] == [
        ("unknown", 2, 2, None)
    ] * 2


# --- start-up --------------------------------------------------------------------------------


def _open_at(data_dir: Path, start: Any, results: Any) -> None:
    start.wait()
    try:
        with open_store(data_dir) as store:
            store.add_subscriber(f"p{os.getpid()}@example.com", now=NOW)
        results.put("ok")
    except Exception as error:  # reported to the test, which fails with it
        results.put(f"{type(error).__name__}: {error}")


def test_commands_starting_at_once_on_a_new_data_directory_all_work(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for trial in range(20):
        data_dir = tmp_path / f"trial{trial}"
        start, results = context.Event(), context.Queue()
        processes = [
            context.Process(target=_open_at, args=(data_dir, start, results)) for _ in range(4)
        ]
        for process in processes:
            process.start()
        start.set()
        for process in processes:
            process.join(60)
        outcomes = [results.get(timeout=5) for _ in processes]
        assert outcomes == ["ok"] * 4, f"trial {trial}: {outcomes}"
        with open_store(data_dir) as store:
            assert len(store.subscribers()) == 4
        assert sorted(p.name for p in data_dir.iterdir()) == [
            "digest.sqlite3",
            "digest.sqlite3-shm",
            "digest.sqlite3-wal",
        ] or sorted(p.name for p in data_dir.iterdir()) == ["digest.sqlite3"]


def test_an_empty_or_foreign_database_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    database = tmp_path / "data" / "digest.sqlite3"
    database.parent.mkdir()
    other = sqlite3.connect(tmp_path / "other.sqlite3")
    other.execute("CREATE TABLE notes (text TEXT)")
    other.commit()
    other.close()
    contents = {
        "the database file is empty (0 bytes), not a digest database": b"",
        "not a digest database (file is not a database)": b"digest notes\n" * 100,
        "not a digest database (it has tables but no digest schema version)": (
            tmp_path / "other.sqlite3"
        ).read_bytes(),
    }
    for problem, content in contents.items():
        database.write_bytes(content)
        done = subprocess.run(
            [sys.executable, "-m", "digest", "--config", str(config), "subscribers", "list"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr == (
            f"digest: error: {database}: {problem}; restore it from a backup, "
            "or move it away to start a new store\n"
        )
        assert database.read_bytes() == content, "left as it was"


def test_the_outbox_keeps_one_file_per_recipient(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    loaded = load_config(config)
    addresses = ("josé@example.com", "josè@example.com", "jos_@example.com")
    with open_store(loaded.data_dir) as store:
        store.save_edition(Email(KEY, "s", "<p>", "t", "p"), number=1, built=NOW, article_ids=[])
        for address in addresses:
            store.add_subscriber(address, now=NOW)
        assert pipeline.send(loaded, store, now=NOW).counts["sent"] == 3
    files = sorted((loaded.data_dir / "outbox" / KEY).iterdir())
    assert len(files) == 3
    received = {message_from_bytes(f.read_bytes(), policy=default_policy)["To"] for f in files}
    assert received == set(addresses)


# --- collect: a feed's state and its articles together ---------------------------------------

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>One</title><link>https://news.example.com/1</link>"
    b"<description>Text.</description></item></channel></rss>"
)


def test_a_collect_cut_short_while_saving_articles_keeps_no_etag_and_the_rerun_stores_them(
    http_server: HttpServer, tmp_path: Path
) -> None:
    def feed(handler: Any) -> None:
        if handler.headers.get("If-None-Match") == '"v1"':
            respond(handler, 304)
        else:
            respond(handler, 200, FEED, ETag='"v1"')

    http_server.routes["/feed.xml"] = feed
    config = tmp_path / "digest.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[collect]\nallow_hosts = ["127.0.0.1"]\n'
        '[[sources]]\nname = "Feed"\n'
        f'url = "{http_server.url("feed.xml")}"\nfull_text = "never"\n',
        encoding="utf-8",
    )
    with open_store(tmp_path / "data") as store:
        # The disk fills up just as the articles are written.
        store.db.execute(
            "CREATE TRIGGER full BEFORE INSERT ON articles "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    failed = subprocess.run(
        digest_command("--config", str(config), "collect"), capture_output=True, text=True
    )
    assert failed.returncode != 0 and "disk is full" in failed.stderr
    with open_store(tmp_path / "data") as store:
        assert store.fetch_state(http_server.url("feed.xml")).etag == ""
        assert store.latest_articles(5) == []
        store.db.execute("DROP TRIGGER full")
    again = subprocess.run(
        digest_command("--config", str(config), "collect"), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    with open_store(tmp_path / "data") as store:
        assert store.fetch_state(http_server.url("feed.xml")).etag == '"v1"'
        assert [a.title for a in store.latest_articles(5)] == ["One"]


# --- a send during a build -------------------------------------------------------------------


def test_a_send_started_during_a_build_sends_one_version_and_only_it_counts_as_carried(
    tmp_path: Path,
) -> None:
    with MailServer() as server:
        config_path = tmp_path / "digest.toml"
        config_path.write_text(
            f'data_dir = "{tmp_path / "data"}"\n'
            '[newsletter]\nfrom_address = "daily@news.example.com"\n'
            '[delivery]\ntransport = "smtp"\n'
            f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n',
            encoding="utf-8",
        )
        config = load_config(config_path)
        stories = sorted(newsroom.STORIES)
        with open_store(config.data_dir) as store:
            store.save_articles([newsroom.article(s) for s in stories[::2]], now=newsroom.NOW)
            first = pipeline.build(config, store, now=newsroom.NOW)
            assert first.edition is not None
            key = first.edition.key
            for i in range(40):
                store.add_subscriber(f"reader{i:02}@example.com", now=newsroom.NOW)
            # More news arrives; a rebuild starts, and a whole send runs in the middle of it.
            store.save_articles([newsroom.article(s) for s in stories[1::2]], now=newsroom.NOW)
        summarized = summaries(config.data_dir / "digest.sqlite3")
        clock = {**os.environ, "DIGEST_FAKE_NOW": (newsroom.NOW + timedelta(minutes=5)).isoformat()}
        build = subprocess.Popen(
            digest_command("--config", str(config_path), "build", "--no-collect"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clock,
        )
        # The build has read the edition (not sealed yet) once it stores its first summary;
        # it is paused there, and the whole send runs before it goes on.
        database = config.data_dir / "digest.sqlite3"
        while summaries(database) == summarized:
            assert build.poll() is None, build.communicate()
            time.sleep(0.002)
        pause_between_writes(build, database)
        try:
            send = subprocess.Popen(
                digest_command("--config", str(config_path), "send"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=clock,
            )
            sent = send.communicate(timeout=120)
        finally:
            build.send_signal(signal.SIGCONT)
        built = build.communicate(timeout=120)
        assert (build.returncode, send.returncode) == (0, 0), (built, sent)
        received = server.received
    with open_store(config.data_dir) as store:
        record = store.edition(key)
        assert record is not None and record.sealed
        carried = {store.article(i).url for i in record.article_ids}  # type: ignore[union-attr]
        others = {a.url for a in store.latest_articles(50)} - carried
    assert len(received) == 40 and len({r.recipients[0] for r in received}) == 40
    for message in received:
        html = message.message.get_body(("html",))
        assert html is not None
        links = set(lxml.html.fromstring(html.get_content()).xpath("//a/@href"))
        assert carried <= links, f"the version sent is the one recorded: {carried - links}"
        assert not others & links, f"articles sent but not recorded as carried: {others & links}"
    said = built[0].decode().strip().splitlines()[0]
    assert said == f"edition {key} was already sent (40 sent); kept as it is", said


def summaries(database: Path) -> int:
    with closing(sqlite3.connect(database)) as db:
        count: int = db.execute("SELECT COUNT(*) FROM summaries").fetchone()[0]
    return count


def pause_between_writes(process: subprocess.Popen[bytes], database: Path) -> None:
    """SIGSTOP ``process`` at a moment it holds no write lock on the SQLite ``database``."""
    while True:
        process.send_signal(signal.SIGSTOP)
        with closing(sqlite3.connect(database, timeout=0, isolation_level=None)) as db:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # in the middle of a write: let it finish
                pass
            else:
                db.execute("ROLLBACK")
                return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.001)


# --- ledger retention ------------------------------------------------------------------------


def test_an_old_editions_rows_become_counts_and_the_latest_keeps_its_rows(store: Store) -> None:
    old = Email("2026-01-05", "s", "<p>", "t", "p")
    store.save_edition(old, number=0, built=NOW - timedelta(days=60), article_ids=[])
    store.plan_deliveries(old.edition_key, ["a@example.com", "b@example.com"], now=NOW)
    won = store.claim_deliveries(
        old.edition_key, version=1, claimant="s", now=NOW, lease_until=NOW, limit=5
    )
    assert won is not None and len(won) == 2
    store.finish_delivery(old.edition_key, won[0].email, claimant="s", status="sent", now=NOW)
    store.finish_delivery(old.edition_key, won[1].email, claimant="s", status="failed", now=NOW)
    planned(store, "a@example.com")  # the latest edition, built long ago too
    cutoff = NOW - timedelta(days=30)
    assert store.compact_deliveries(built_before=NOW, now=NOW) == [old.edition_key]
    assert store.compact_deliveries(built_before=cutoff, now=NOW) == []
    assert store.deliveries(old.edition_key) == []
    assert store.compacted_counts(old.edition_key) == {"failed": 1, "sent": 1}
    assert [d.email for d in store.deliveries(KEY)] == ["a@example.com"]
    assert store.compacted_counts(KEY) == {}


def test_a_send_compacts_the_ledger_past_keep_ledger_and_digest_deliveries_still_answers(
    tmp_path: Path,
) -> None:
    config_path = tmp_path / "digest.toml"
    config_path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[delivery]\nkeep_ledger = "30d"\n', encoding="utf-8"
    )
    config = load_config(config_path)
    later = NOW + timedelta(days=40)
    with open_store(config.data_dir) as store:
        for address in ("ana@example.com", "bo@example.com", "cy@example.com"):
            store.add_subscriber(address, now=NOW)
        store.save_edition(Email(KEY, "s", "<p>", "t", "p"), number=1, built=NOW, article_ids=[])
        assert pipeline.send(config, store, now=NOW).counts["sent"] == 3
        store.set_subscriber_status("cy@example.com", "unsubscribed", now=NOW)
        store.save_edition(
            Email("2026-04-19", "s", "<p>", "t", "p"), number=2, built=later, article_ids=[]
        )
        assert pipeline.send(config, store, now=later).counts["sent"] == 2
        assert store.deliveries(KEY) == [] and len(store.deliveries("2026-04-19")) == 2
    shown = subprocess.run(
        digest_command("--config", str(config_path), "deliveries", KEY),
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "older than delivery.keep_ledger: only the counts per state are kept",
        f"edition {KEY}: 3 recipients: 3 sent",
    ]
