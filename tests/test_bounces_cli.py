"""`digest bounces` as a user runs it: reports read from a maildir, an mbox and a real IMAP
server (Dovecot) suppress or unsubscribe the right subscriber, once, and the next send skips
them; a forged return path changes nothing."""

from __future__ import annotations

import mailbox
import os
import shutil
from pathlib import Path

import pytest

from digest.bounces import ReturnPath
from digest.store import open_store
from tests import reports
from tests.imapserver import DOVECOT, PASSWORD, running_dovecot
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


@pytest.mark.skipif(
    DOVECOT is None and os.environ.get("CI") != "true",
    reason="needs Dovecot (apt-get install dovecot-imapd; .ci/run installs it)",
)
def test_reports_read_over_imap_from_a_real_server(
    tmp_path: Path, certificate: Certificate
) -> None:
    assert DOVECOT is not None and shutil.which("doveconf") is not None
    config, refs, paths = subscribed(tmp_path)
    text = config.read_text(encoding="utf-8")
    with running_dovecot(certificate) as server:
        config.write_text(
            text + f'mailbox = "{server.url}"\n[smtp]\nca_file = "{certificate.cert}"\n',
            encoding="utf-8",
        )
        for number, data in enumerate(the_reports(refs, paths)):
            server.deliver(f"{number}.report", data)
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
