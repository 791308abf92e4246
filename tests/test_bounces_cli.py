"""`digest bounces` as a user runs it: reports read from a maildir, an mbox and a real IMAP
server (Dovecot) suppress or unsubscribe the right subscriber, once, and the next send skips
them; a forged return path changes nothing."""

from __future__ import annotations

import mailbox
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from digest.bounces import ReturnPath
from digest.config import load_config
from digest.errors import MailboxError
from digest.mailboxes import ImapReports, MaildirReports, Reports, open_reports
from digest.pipeline.bouncing import read_bounces
from digest.store import open_store
from tests import reports
from tests.imapserver import DOVECOT, PASSWORD, ImapServer, running_dovecot
from tests.mailserver import Certificate
from tests.samples import NOW
from tests.test_subscribers_cli import run, write_config

SECRET = "a-long-enough-secret-for-tests"
ENV = {"DIGEST_SECRET": SECRET}
BOUNCES = '[bounces]\naddress = "bounces@news.example.com"\nsoft_threshold = 2\n'
PEOPLE = ["ana@example.com", "ben@example.com", "cy@example.com", "Élodie@example.com"]


def subscribed(tmp_path: Path) -> tuple[Path, dict[str, str], ReturnPath]:
    config = write_config(tmp_path, BOUNCES)
    with open_store(tmp_path / "data") as store:
        for email in PEOPLE:
            store.add_subscriber(email, now=NOW)
        refs = store.subscriber_refs(PEOPLE)
    return config, refs, ReturnPath("bounces", "news.example.com", SECRET)


def the_reports(refs: dict[str, str], paths: ReturnPath) -> list[bytes]:
    def rp(email: str) -> str:
        return paths.address(refs[email])

    forged = rp("cy@example.com").replace("@", "x@")  # cy's tag, altered: names nobody
    return [
        reports.postfix_dsn(
            rp("ana@example.com"),
            "ana@example.com",
            status="5.1.1",
            diagnostic="550 5.1.1 User unknown",
        ),
        reports.arf_complaint(rp("ben@example.com"), "ben@example.com"),
        reports.exim_bounce(forged, "cy@example.com"),
        reports.gmail_dsn(rp("Élodie@example.com"), "Élodie@example.com"),
        reports.vacation_reply(rp("cy@example.com")),
    ]


NEEDS_DOVECOT = pytest.mark.skipif(
    DOVECOT is None and os.environ.get("CI") != "true",
    reason="needs Dovecot (apt-get install dovecot-imapd; .ci/run installs it)",
)


@contextmanager
def reports_over_imap(
    config: Path, refs: dict[str, str], paths: ReturnPath, certificate: Certificate
) -> Iterator[ImapServer]:
    """Dovecot holding the_reports, and ``config`` reading them from it."""
    text = config.read_text(encoding="utf-8")
    with running_dovecot(certificate) as server:
        config.write_text(
            text + f'mailbox = "{server.url}"\n[smtp]\nca_file = "{certificate.cert}"\n',
            encoding="utf-8",
        )
        for number, data in enumerate(the_reports(refs, paths)):
            server.deliver(f"{number}.report", data)
        yield server


def states(tmp_path: Path) -> dict[str, tuple[str | None, bool]]:
    with open_store(tmp_path / "data") as store:
        return {e: (store.subscriber_status(e), store.is_suppressed(e)) for e in PEOPLE}


def test_maildir_reports_suppress_the_right_subscribers_once(tmp_path: Path) -> None:
    config, refs, paths = subscribed(tmp_path)
    assert all(ref and "@" not in ref for ref in refs.values())
    maildir = tmp_path / "Maildir"
    box = mailbox.Maildir(maildir, create=True)
    for data in the_reports(refs, paths):
        box.add(data)
    result = run("bounces", "--mailbox", str(maildir), config=config, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "5 messages: 1 hard bounces, 1 soft, 1 complaints, 2 newly suppressed; "
        "0 read before, 2 not reports, 0 for nobody known"
    )
    assert states(tmp_path) == {
        "ana@example.com": ("confirmed", True),
        "ben@example.com": ("unsubscribed", True),
        "cy@example.com": ("confirmed", False),
        "Élodie@example.com": ("confirmed", False),  # one soft bounce of two
    }
    # Read messages are marked Seen: a second run reads nothing.
    again = run("bounces", "--mailbox", str(maildir), config=config, env=ENV)
    assert again.stdout.splitlines()[-1].startswith("0 messages: ")
    listed = run("bounces", "--list", config=config, env=ENV).stdout
    assert "hard bounce" in listed and "ana@example.com" in listed and "complaint" in listed
    # An import honours the suppression list: ben complained, so he is not subscribed again.
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "email,status\nBEN@example.com,confirmed\nnew@example.com,\n", encoding="utf-8"
    )
    imported = run("subscribers", "import", str(csv_file), config=config, env=ENV)
    assert (
        "1 added" in imported.stdout and "1 suppressed (bounced or complained)" in imported.stdout
    )
    assert states(tmp_path)["ben@example.com"] == ("unsubscribed", True)


def test_an_mbox_read_twice_counts_each_report_once(tmp_path: Path) -> None:
    config, refs, paths = subscribed(tmp_path)
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    for data in the_reports(refs, paths):
        box.add(data)
    box.close()
    first = run("bounces", "--mailbox", str(tmp_path / "bounces.mbox"), config=config, env=ENV)
    second = run("bounces", "--mailbox", str(tmp_path / "bounces.mbox"), config=config, env=ENV)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "2 newly suppressed; 0 read before" in first.stdout
    assert "0 newly suppressed; 5 read before" in second.stdout
    assert states(tmp_path)["Élodie@example.com"] == ("confirmed", False)


@NEEDS_DOVECOT
def test_reports_read_over_imap_from_a_real_server(
    tmp_path: Path, certificate: Certificate
) -> None:
    assert DOVECOT is not None and shutil.which("doveconf") is not None
    config, refs, paths = subscribed(tmp_path)
    with reports_over_imap(config, refs, paths, certificate):
        env = {**ENV, "DIGEST_BOUNCES_PASSWORD": PASSWORD}
        result = run("bounces", config=config, env=env)
        assert result.returncode == 0, result.stderr
        assert "1 hard bounces, 1 soft, 1 complaints, 2 newly suppressed" in result.stdout
        again = run("bounces", config=config, env=env)
        assert again.stdout.splitlines()[-1].startswith("0 messages: "), again.stdout
        wrong = run("bounces", config=config, env={**ENV, "DIGEST_BOUNCES_PASSWORD": "nope"})
        assert wrong.returncode == 2
        assert wrong.stderr.startswith("digest: error: bounces.mailbox: ")
    assert states(tmp_path)["ana@example.com"] == ("confirmed", True)


def test_the_daemons_collect_reads_the_mailbox_and_a_broken_one_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from digest import cycle
    from digest.config import load_config

    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    config_file, refs, paths = subscribed(tmp_path)
    maildir = tmp_path / "Maildir"
    box = mailbox.Maildir(maildir, create=True)
    for data in the_reports(refs, paths):
        box.add(data)
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(text + f'mailbox = "{maildir}"\n', encoding="utf-8")
    config = load_config(config_file)
    with open_store(config.data_dir) as store:
        cycle.read_bounces(config, store)
        assert store.is_suppressed("ana@example.com") and store.is_suppressed("ben@example.com")
        config_file.write_text(text + f'mailbox = "{tmp_path / "nowhere"}"\n', encoding="utf-8")
        with caplog.at_level("WARNING"):
            cycle.read_bounces(load_config(config_file), store)
    assert "bounces.mailbox: " in caplog.text and "nowhere" in caplog.text


class _Meddled:
    """A report source to which something happens around the first message's being marked
    done, as another reader or a dropped connection would make happen."""

    def __init__(
        self,
        inner: Reports,
        *,
        before: Callable[[str], None] = lambda handle: None,
        after: Callable[[str], None] = lambda handle: None,
    ) -> None:
        self.inner = inner
        self.before = before
        self.after = after
        self.dealt = 0

    def messages(self) -> Iterator[tuple[str, bytes]]:
        return self.inner.messages()

    def done(self, handle: str) -> None:
        self.dealt += 1
        if self.dealt == 1:
            self.before(handle)
        self.inner.done(handle)
        if self.dealt == 1:
            self.after(handle)


def test_two_readers_of_one_maildir_apply_each_report_once_and_do_not_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `digest bounces` on one maildir: both read the first report; the other marks it seen
    first (moves it to cur). This reader leaves it to the other and goes on with the rest; a
    report file gone between the listing and its reading is skipped the same way."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    config_file, refs, paths = subscribed(tmp_path)
    maildir = tmp_path / "Maildir"
    mailbox.Maildir(maildir, create=True)
    for number, data in enumerate(the_reports(refs, paths)):
        (maildir / "new" / f"{number}.report").write_bytes(data)

    def the_other_reader_marks_it_and_takes_the_next(handle: str) -> None:
        (maildir / handle).replace(maildir / "cur" / f"{Path(handle).name}:2,S")
        (maildir / "new" / "1.report").replace(maildir / "cur" / "1.report:2,S")

    config = load_config(config_file)
    with open_store(config.data_dir) as store:
        source = _Meddled(
            MaildirReports(maildir), before=the_other_reader_marks_it_and_takes_the_next
        )
        report = read_bounces(config, store, source, now=NOW)
    assert report.counts["read"] == 4 and report.counts["complaint"] == 0
    assert states(tmp_path)["ana@example.com"] == ("confirmed", True)
    assert states(tmp_path)["ben@example.com"] == ("confirmed", False)  # the other's to apply
    assert list((maildir / "new").iterdir()) == []


@NEEDS_DOVECOT
def test_an_imap_connection_lost_part_way_is_one_line_and_loses_nothing(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DOVECOT is not None
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    config_file, refs, paths = subscribed(tmp_path)
    with reports_over_imap(config_file, refs, paths, certificate) as server:
        config = load_config(config_file)
        with (
            open_store(config.data_dir) as store,
            open_reports(server.url, password=PASSWORD, ca_file=str(certificate.cert)) as imap,
        ):
            assert isinstance(imap, ImapReports)

            def the_connection_drops(handle: str) -> None:
                imap.connection.socket().shutdown(socket.SHUT_RDWR)

            with pytest.raises(MailboxError) as lost:
                read_bounces(config, store, _Meddled(imap, after=the_connection_drops), now=NOW)
        message = str(lost.value)
        assert "\n" not in message and "reading stopped after 1 messages" in message
        assert states(tmp_path)["ana@example.com"] == ("confirmed", True)  # the first: applied
        # The next run reads the rest (the first was marked seen), so nothing is lost.
        env = {**ENV, "DIGEST_BOUNCES_PASSWORD": PASSWORD}
        result = run("bounces", config=config_file, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1].startswith("4 messages: "), result.stdout
    assert states(tmp_path)["ben@example.com"] == ("unsubscribed", True)
