"""SMTP delivery against a real aiosmtpd server: TLS, AUTH, reuse, faults and the ledger."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from digest import pipeline, tokens
from digest.config import Config, DeliveryConfig, NewsletterConfig, SmtpConfig, load_config
from digest.deliver import message_id
from digest.errors import ConfigError
from digest.render import render_email
from digest.store import Store, open_store

from .mailserver import REPLIES, Certificate, MailServer
from .samples import NOW, sample_edition

SECRET = "a-long-enough-secret-for-tests"
NEWSLETTER = NewsletterConfig(
    name="Daily Digest",
    from_address="daily@news.example.com",
    base_url="https://news.example.com/digest",
)
QUICK_RETRIES = DeliveryConfig(transport="smtp", retry_pause=timedelta(milliseconds=20))


def smtp_config(
    tmp_path: Path, server: MailServer, delivery: DeliveryConfig = QUICK_RETRIES, **smtp: object
) -> Config:
    return Config(
        data_dir=tmp_path / "data",
        newsletter=NEWSLETTER,
        delivery=delivery,
        smtp=SmtpConfig(
            host=server.host,
            port=server.port,
            security=server.security,
            **{"connections": 1, **smtp},  # type: ignore[arg-type]
        ),
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A store holding one built edition (2026-03-10), with the signing key set."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    email, _ = render_email(sample_edition(4), NEWSLETTER, Config().render)
    with open_store(tmp_path / "data") as opened:
        opened.save_edition(email, number=1, built=NOW, article_ids=[])
        yield opened


def subscribe(store: Store, *addresses: str) -> None:
    for address in addresses:
        store.add_subscriber(address, name=address.split("@")[0].title(), now=NOW)


def ledger(store: Store) -> dict[str, tuple[str, int, str]]:
    return {d.email: (d.status, d.attempts, d.reply) for d in store.deliveries("2026-03-10")}


def test_starttls_and_auth_deliver_exactly_one_complete_message_per_recipient(
    tmp_path: Path, store: Store, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret pass")
    addresses = ("ana@example.com", "bo@example.com", "zoë@example.com")
    subscribe(store, *addresses)
    with MailServer(
        security="starttls", certificate=certificate, login=("digest", "s3cret pass")
    ) as server:
        config = smtp_config(tmp_path, server, username="digest", ca_file=str(certificate.cert))
        report = pipeline.send(config, store, now=NOW)
        assert report.counts == {"sent": 3, "deferred": 0, "failed": 0, "skipped": 0, "unknown": 0}
        assert server.per_recipient() == dict.fromkeys(addresses, 1)
        assert server.connections() == 1, "one connection carried every message"
        for received in server.received:
            assert received.tls and received.login == "digest"
            (address,) = received.recipients
            m = received.message
            assert str(m["From"]) == "Daily Digest <daily@news.example.com>"
            assert m["To"].addresses[0].addr_spec == address
            assert m["Subject"] and m["Date"]
            assert m["Message-ID"] == message_id("2026-03-10", address, "news.example.com")
            assert m["List-Id"] == "Daily Digest <daily-digest.news.example.com>"
            https, mailto = (u.strip(" <>") for u in m["List-Unsubscribe"].split(","))
            base, _, token = https.partition("?t=")
            assert base == "https://news.example.com/digest/unsubscribe"
            assert tokens.verify(token, "unsubscribe", SECRET) == address
            assert mailto == "mailto:daily@news.example.com?subject=unsubscribe"
            assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            plain, html = m.get_body(("plain",)), m.get_body(("html",))
            assert plain is not None and html is not None
            name = address.split("@")[0].title()
            assert f"Hello {name}," in html.get_content()
            assert "Story 0" in plain.get_content() and "Story 0" in html.get_content()
    assert ledger(store)["ana@example.com"] == ("sent", 1, "")


def test_an_internationalized_address_fails_alone_where_the_server_lacks_smtputf8(
    tmp_path: Path, store: Store
) -> None:
    subscribe(store, "zoë@example.com", "ana@example.com")
    with MailServer(smtputf8=False) as server:
        report = pipeline.send(smtp_config(tmp_path, server), store, now=NOW)
        assert server.per_recipient() == {"ana@example.com": 1}
    assert report.problems == [
        "zoë@example.com: the server does not accept internationalized addresses (no SMTPUTF8)"
    ]


def test_implicit_tls_on_the_ssl_port(
    tmp_path: Path, store: Store, certificate: Certificate
) -> None:
    subscribe(store, "ana@example.com")
    with MailServer(security="ssl", certificate=certificate) as server:
        config = smtp_config(tmp_path, server, ca_file=str(certificate.cert))
        assert pipeline.send(config, store, now=NOW).counts["sent"] == 1
        assert [r.tls for r in server.received] == [True]


def test_an_untrusted_certificate_stops_the_run_and_sends_nothing(
    tmp_path: Path, store: Store, certificate: Certificate
) -> None:
    subscribe(store, "ana@example.com", "bo@example.com")
    with MailServer(security="starttls", certificate=certificate) as server:
        report = pipeline.send(smtp_config(tmp_path, server), store, now=NOW)
        assert server.received == []
    assert report.stopped.startswith(
        f"127.0.0.1:{server.port}: the server's certificate is not trusted"
    )
    assert report.stopped.endswith("(smtp.ca_file can name the CA that issued it)")
    assert report.counts == {"sent": 0, "deferred": 0, "failed": 0, "skipped": 0, "unknown": 0}
    assert {status for status, _, _ in ledger(store).values()} == {"pending"}


def test_a_refused_login_stops_the_run(
    tmp_path: Path, store: Store, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "wrong")
    subscribe(store, "ana@example.com")
    with MailServer(
        security="starttls", certificate=certificate, login=("digest", "right")
    ) as server:
        config = smtp_config(tmp_path, server, username="digest", ca_file=str(certificate.cert))
        report = pipeline.send(config, store, now=NOW)
    assert report.stopped.startswith(f"127.0.0.1:{server.port} refused the login of 'digest': 535")
    assert ledger(store) == {"ana@example.com": ("pending", 0, "")}


def test_a_connection_the_server_closes_between_messages_is_reopened_without_a_failure(
    tmp_path: Path, store: Store
) -> None:
    addresses = [f"reader{i}@example.com" for i in range(5)]
    subscribe(store, *addresses)
    with MailServer(close_after=2) as server:
        report = pipeline.send(smtp_config(tmp_path, server), store, now=NOW)
        assert report.counts["sent"] == 5 and report.problems == []
        assert server.per_recipient() == dict.fromkeys(addresses, 1)
        assert server.connections() == 3


def test_the_rate_limit_spaces_messages(tmp_path: Path, store: Store) -> None:
    subscribe(store, *(f"reader{i}@example.com" for i in range(6)))
    with MailServer() as server:
        config = smtp_config(tmp_path, server, replace(QUICK_RETRIES, rate_limit=20.0))
        started = time.monotonic()
        assert pipeline.send(config, store, now=NOW).counts["sent"] == 6
        assert time.monotonic() - started >= 5 / 20


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_temporary_failures_are_retried_in_the_run_and_permanent_ones_recorded(
    tmp_path: Path, store: Store, pipelining: bool
) -> None:
    faults: dict[str, list[str | None]] = {
        "busy@example.com": ["451"],
        "closing@example.com": ["421"],
        "dropped@example.com": ["drop"],
        "twice@example.com": ["451", "drop"],
        "unknown@example.com": ["550"],
        "refused@example.com": ["554"],
    }
    fine = ["first@example.com", "middle@example.com", "last@example.com"]
    subscribe(store, fine[0], *list(faults)[:3], fine[1], *list(faults)[3:], fine[2])
    with MailServer(faults=faults, pipelining=pipelining) as server:
        report = pipeline.send(smtp_config(tmp_path, server), store, now=NOW)
        received = server.per_recipient()
        attempts = server.handler.attempts
        # Pipelined: every transaction's MAIL FROM came with its RCPT TO (RFC 2920).
        assert server.handler.pipelined == (sum(attempts.values()) if pipelining else 0)
    assert report.counts == {"sent": 7, "deferred": 0, "failed": 2, "skipped": 0, "unknown": 0}
    assert sorted(report.problems) == [
        f"refused@example.com: {REPLIES['554']}",
        f"unknown@example.com: {REPLIES['550']}",
    ]
    delivered = set(fine) | {"busy@example.com", "closing@example.com", "dropped@example.com"}
    assert received == dict.fromkeys(delivered | {"twice@example.com"}, 1), "nothing twice"
    assert attempts["twice@example.com"] == 3 and attempts["unknown@example.com"] == 1
    rows = ledger(store)
    assert rows["unknown@example.com"] == ("failed", 1, REPLIES["550"])
    assert rows["refused@example.com"] == ("failed", 1, REPLIES["554"])
    assert rows["twice@example.com"] == ("sent", 3, "")
    assert rows["first@example.com"] == ("sent", 1, "")


def test_what_still_fails_is_deferred_to_a_later_run_until_max_attempts(
    tmp_path: Path, store: Store
) -> None:
    faults: dict[str, list[str | None]] = {
        "later@example.com": ["451"],
        "never@example.com": ["451"] * 9,
    }
    subscribe(store, "later@example.com", "never@example.com")
    delivery = replace(QUICK_RETRIES, retries_per_run=0, max_attempts=2)
    with MailServer(faults=faults) as server:
        config = smtp_config(tmp_path, server, delivery)
        first = pipeline.send(config, store, now=NOW)
        assert first.counts == {"sent": 0, "deferred": 2, "failed": 0, "skipped": 0, "unknown": 0}
        row = store.deliveries("2026-03-10")[0]
        assert row.status == "deferred" and row.reply == REPLIES["451"]
        assert row.next_attempt is not None and row.next_attempt - NOW >= pipeline.BACKOFF[0]
        # Not due yet: nobody is tried, both are still counted as deferred.
        early = pipeline.send(config, store, now=NOW + timedelta(seconds=30))
        assert early.counts["deferred"] == 2 and sum(server.handler.attempts.values()) == 2
        later = pipeline.send(config, store, now=NOW + timedelta(minutes=2))
        assert later.counts == {"sent": 1, "deferred": 0, "failed": 1, "skipped": 0, "unknown": 0}
        assert server.per_recipient() == {"later@example.com": 1}
    assert ledger(store)["never@example.com"] == ("failed", 2, REPLIES["451"])


def test_an_unreachable_server_stops_the_run_and_keeps_everyone_for_the_next(
    tmp_path: Path, store: Store
) -> None:
    subscribe(store, "ana@example.com", "bo@example.com")
    server = MailServer()  # never started: nothing listens on its port
    report = pipeline.send(smtp_config(tmp_path, server), store, now=NOW)
    assert report.stopped.startswith(f"cannot connect to 127.0.0.1:{server.port}: ")
    assert {status for status, _, _ in ledger(store).values()} == {"pending"}
    with server:
        assert pipeline.send(smtp_config(tmp_path, server), store, now=NOW).counts["sent"] == 2


def test_a_login_over_an_unencrypted_connection_to_another_host_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(
        '[delivery]\ntransport = "smtp"\n'
        '[smtp]\nhost = "smtp.example.com"\nsecurity = "none"\nusername = "digest"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems == [
        f"{path}: smtp.security: expected 'starttls' or 'ssl' when smtp.username is set "
        "(the password would cross the network in clear), got 'none'"
    ]


def test_a_server_that_never_answers_times_out(tmp_path: Path, store: Store) -> None:
    subscribe(store, "ana@example.com")
    with socket.socket() as silent:  # accepts connections (the kernel does) and never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        smtp = SmtpConfig(
            host="127.0.0.1", port=port, security="none", timeout=timedelta(milliseconds=300)
        )
        config = Config(
            data_dir=tmp_path / "data", newsletter=NEWSLETTER, delivery=QUICK_RETRIES, smtp=smtp
        )
        started = time.monotonic()
        report = pipeline.send(config, store, now=NOW)
    assert time.monotonic() - started < 5
    assert report.stopped == (
        f"cannot connect to 127.0.0.1:{port}: Connection unexpectedly closed: timed out"
    )
