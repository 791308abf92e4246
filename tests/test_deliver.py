from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest import pipeline
from digest.config import Config, DeliveryConfig, NewsletterConfig, SmtpConfig
from digest.deliver import OutboxTransport, SmtpTransport, compose, message_id
from digest.errors import TemporaryFailure
from digest.models import Recipient
from digest.render import render_email
from digest.store import open_store

from .conftest import SmtpServer
from .samples import sample_edition

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
NEWSLETTER = NewsletterConfig(name="Daily Digest", from_address="daily@news.example.com")


def message(subject: str = "Today: rates held", name: str = "Ana") -> EmailMessage:
    recipient = Recipient(
        "ana@example.com",
        name,
        unsubscribe_url="https://news.example.com/unsubscribe?t=abc",
        unsubscribe_mailto="mailto:daily@news.example.com?subject=unsubscribe",
    )
    return compose(
        subject=subject,
        html="<p>Héllo</p>",
        text="Héllo",
        recipient=recipient,
        newsletter=NEWSLETTER,
        edition_key="2026-03-10",
        now=NOW,
    )


def parsed(msg: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def test_the_message_has_both_parts_and_the_list_headers() -> None:
    m = parsed(message())
    assert m.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in m.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in m.iter_parts())
    assert m.get_body(("plain",)).get_content().strip() == "Héllo"  # type: ignore[union-attr]
    assert str(m["From"]) == "Daily Digest <daily@news.example.com>"
    assert str(m["To"]) == "Ana <ana@example.com>"
    assert m["List-Id"] == "Daily Digest <daily-digest.news.example.com>"
    assert (
        m["List-Unsubscribe"]
        == "<https://news.example.com/unsubscribe?t=abc>, <mailto:daily@news.example.com?subject=unsubscribe>"
    )
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["Message-ID"] == message_id("2026-03-10", "ana@example.com", "news.example.com")
    assert m["Date"]


def test_feed_text_cannot_break_a_header() -> None:
    m = parsed(message(subject="Evil\r\nBcc: victim@example.com\nX: y", name="A\r\nB"))
    assert m["Bcc"] is None and m["X"] is None
    assert m["Subject"] == "Evil Bcc: victim@example.com X: y"


def test_a_non_ascii_subject_is_encoded_and_decodes_back() -> None:
    raw = message(subject="Zürich: prices €2 higher — “surprise”").as_bytes()
    assert b"Z\xc3\xbcrich" not in raw.split(b"\r\n\r\n", 1)[0]
    assert (
        parsed(message(subject="Zürich: prices €2 higher — “surprise”"))["Subject"]
        == "Zürich: prices €2 higher — “surprise”"
    )


def test_the_message_id_is_stable_per_edition_and_recipient() -> None:
    assert message_id("2026-03-10", "A@x.com", "d") == message_id("2026-03-10", "a@x.com", "d")
    assert message_id("2026-03-10", "a@x.com", "d") != message_id("2026-03-11", "a@x.com", "d")


def test_the_outbox_writes_one_eml_per_recipient(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    outbox.send(message(), "ana@example.com")
    path = tmp_path / "2026-03-10" / "ana@example.com.eml"
    assert path.is_file() and not list(tmp_path.rglob("*.partial"))
    assert (
        parsed(message())["Message-ID"] == email.message_from_bytes(path.read_bytes())["Message-ID"]
    )


def test_smtp_delivers_one_message_per_recipient_over_one_connection(
    smtp_server: SmtpServer,
) -> None:
    transport = SmtpTransport(
        SmtpConfig(host=smtp_server.host, port=smtp_server.port, security="none")
    )
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        transport.send(replace_to(message(), address), address)
    transport.close()
    assert [rcpts for rcpts, _ in smtp_server.messages] == [
        ["a@example.com"],
        ["b@example.com"],
        ["c@example.com"],
    ]


def replace_to(msg: EmailMessage, address: str) -> EmailMessage:
    del msg["To"]
    msg["To"] = address
    return msg


def test_an_unreachable_server_is_a_temporary_failure() -> None:
    from .conftest import free_port

    transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=free_port(), security="none"))
    with pytest.raises(TemporaryFailure, match="cannot connect"):
        transport.send(message(), "ana@example.com")


def test_send_through_smtp_end_to_end(smtp_server: SmtpServer, tmp_path: Path) -> None:
    config = Config(
        data_dir=tmp_path,
        newsletter=NEWSLETTER,
        delivery=DeliveryConfig(transport="smtp"),
        smtp=SmtpConfig(host=smtp_server.host, port=smtp_server.port, security="none"),
    )
    email_, _ = render_email(sample_edition(4), config.newsletter, config.render)
    with open_store(tmp_path) as store:
        store.save_edition(email_, number=1, built=NOW, article_ids=[])
        for address in ("a@example.com", "b@example.com"):
            store.add_subscriber(address, now=NOW)
        report = pipeline.send(config, store, now=NOW)
        assert report.counts["sent"] == 2
        assert pipeline.send(config, store, now=NOW).counts["sent"] == 0
    assert sorted(r[0] for r, _ in smtp_server.messages) == ["a@example.com", "b@example.com"]
    received = smtp_server.received_by("a@example.com")[0]
    assert received["Subject"] == email_.subject
    assert received.is_multipart()
