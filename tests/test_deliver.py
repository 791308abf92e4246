"""Composing messages (bytes, headers, parts, DKIM) and the outbox."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest import pipeline
from digest.config import Config, DkimConfig, NewsletterConfig
from digest.deliver import OutboxTransport, Outgoing, compose, compose_notice, message_id
from digest.errors import ConfigError
from digest.models import Recipient
from digest.render import render_email
from digest.store import open_store

from .samples import NOW, sample_edition

NEWSLETTER = NewsletterConfig(name="Daily Digest", from_address="daily@news.example.com")
ANA = Recipient(
    "ana@example.com",
    "Ana",
    unsubscribe_url="https://news.example.com/unsubscribe?t=abc",
    unsubscribe_mailto="mailto:daily@news.example.com?subject=unsubscribe",
)


def message(
    subject: str = "Today: rates held", recipient: Recipient = ANA, text: str = "Héllo"
) -> bytes:
    return compose(
        subject=subject,
        html="<p>Héllo</p>",
        text=text,
        recipient=recipient,
        newsletter=NEWSLETTER,
        edition_key="2026-03-10",
        now=NOW,
    )


def parsed(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def content(part: EmailMessage | None) -> str:
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def test_the_message_has_both_parts_and_the_list_headers() -> None:
    m = parsed(message())
    assert m.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in m.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in m.iter_parts())
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in m.iter_parts())
    assert content(m.get_body(("plain",))).strip() == "Héllo"
    assert content(m.get_body(("html",))).strip() == "<p>Héllo</p>"
    assert str(m["From"]) == "Daily Digest <daily@news.example.com>"
    assert str(m["To"]) == "Ana <ana@example.com>"
    assert m["List-Id"] == "Daily Digest <daily-digest.news.example.com>"
    assert (
        m["List-Unsubscribe"]
        == "<https://news.example.com/unsubscribe?t=abc>, <mailto:daily@news.example.com?subject=unsubscribe>"
    )
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["Message-ID"] == message_id("2026-03-10", "ana@example.com", "news.example.com")
    assert m["Date"].datetime == NOW
    assert m["MIME-Version"] == "1.0"


def test_every_line_is_crlf_terminated_and_short() -> None:
    long_text = "word " * 400 + "\n" + "x" * 300 + "\nend with spaces   \n.\n"
    data = message(text=long_text)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    assert content(parsed(data).get_body(("plain",))) == long_text


def test_without_a_one_click_url_there_is_only_the_mailto_and_no_post_header() -> None:
    m = parsed(message(recipient=replace(ANA, unsubscribe_url="")))
    assert m["List-Unsubscribe"] == "<mailto:daily@news.example.com?subject=unsubscribe>"
    assert m["List-Unsubscribe-Post"] is None


def test_feed_text_cannot_break_a_header() -> None:
    evil = replace(ANA, name="A\r\nB")
    m = parsed(message(subject="Evil\r\nBcc: victim@example.com\nX: y", recipient=evil))
    assert m["Bcc"] is None and m["X"] is None
    assert m["Subject"] == "Evil Bcc: victim@example.com X: y"
    assert str(m["To"]) == "A B <ana@example.com>"


def test_non_ascii_subject_and_names_are_encoded_and_decode_back() -> None:
    subject = "Zürich: prices €2 higher — “surprise” " * 3
    data = message(subject=subject, recipient=replace(ANA, name="Zoë Müller, Jr."))
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    m = parsed(data)
    assert m["Subject"] == subject.strip()
    assert m["To"].addresses[0].display_name == "Zoë Müller, Jr."


def test_an_internationalized_domain_is_written_in_its_ascii_form() -> None:
    m = parsed(message(recipient=replace(ANA, email="ana@bücher.example")))
    assert m["To"].addresses[0].addr_spec == "ana@xn--bcher-kva.example"


def test_the_message_id_is_stable_per_edition_and_recipient() -> None:
    assert message_id("2026-03-10", "A@x.com", "d") == message_id("2026-03-10", "a@x.com", "d")
    assert message_id("2026-03-10", "a@x.com", "d") != message_id("2026-03-11", "a@x.com", "d")
    assert message() == message(), "the same message, byte for byte"


def test_a_notice_is_plain_text_with_a_fresh_message_id() -> None:
    def notice() -> EmailMessage:
        return parsed(
            compose_notice(
                subject="Confirm",
                text="Open https://x/confirm?t=1",
                to="a@x.com",
                newsletter=NEWSLETTER,
                now=NOW,
            )
        )

    first, second = notice(), notice()
    assert first.get_content_type() == "text/plain"
    assert content(first).strip() == "Open https://x/confirm?t=1"
    assert first["Auto-Submitted"] == "auto-generated" and first["List-Unsubscribe"] is None
    assert first["Message-ID"] != second["Message-ID"]


def test_the_outbox_writes_one_eml_per_recipient(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    outbox.send(Outgoing("daily@news.example.com", "ana@example.com", message(), "2026-03-10"))
    path = tmp_path / "2026-03-10" / "ana@example.com.eml"
    assert path.read_bytes() == message() and not list(tmp_path.rglob("*.partial"))


# --- DKIM ------------------------------------------------------------------------------------


def rsa_key(folder: Path) -> tuple[Path, bytes]:
    """A private key file and the DNS TXT record that publishes its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def signed_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    """One DKIM-signed message from a send to the outbox, and the DNS record to verify it."""
    key_file, record = rsa_key(tmp_path)
    monkeypatch.setenv("DIGEST_SECRET", "a-long-enough-secret-for-tests")
    config = Config(
        data_dir=tmp_path / "data",
        newsletter=replace(NEWSLETTER, base_url="https://news.example.com"),
        dkim=DkimConfig(key_file=str(key_file), selector="mail2026"),
    )
    email_, _ = render_email(sample_edition(3), config.newsletter, config.render)
    with open_store(config.data_dir) as store:
        store.save_edition(email_, number=1, built=NOW, article_ids=[])
        store.add_subscriber("ana@example.com", name="Ana", now=NOW)
        assert pipeline.send(config, store, now=NOW).counts["sent"] == 1
    return (config.data_dir / "outbox" / "2026-03-10" / "ana@example.com.eml").read_bytes(), record


def test_dkim_signs_every_message_and_covers_the_unsubscribe_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[bytes] = []
    data, record = signed_message(tmp_path, monkeypatch)

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        lookups.append(name)
        return record if name == b"mail2026._domainkey.news.example.com." else None

    assert data.startswith(b"DKIM-Signature: ")
    signature = parsed(data)["DKIM-Signature"]
    signed = set(re.search(r"h=([^;]+)", signature).group(1).replace(" ", "").split(":"))  # type: ignore[union-attr]
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post", "list-id"} <= signed
    assert "d=news.example.com" in signature and "s=mail2026" in signature
    assert dkim.verify(data, dnsfunc=dns)
    assert lookups == [b"mail2026._domainkey.news.example.com."]
    # Changing a covered header breaks the signature.
    tampered = re.sub(rb"unsubscribe\?t=[\w.-]+", b"unsubscribe?t=forged", data, count=1)
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)


def test_a_key_file_dkim_cannot_use_is_one_config_line(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("hello\n", encoding="utf-8")
    config = Config(data_dir=tmp_path, dkim=DkimConfig(key_file=str(bad), selector="s"))
    from digest.deliver import make_signer

    with pytest.raises(ConfigError) as raised:
        make_signer(config)
    assert raised.value.problems[0].startswith(
        f"<defaults>: dkim.key_file: {bad} is not an RSA private key in PEM"
    )


def test_dkim_oversigning_breaks_on_a_header_added_above_the_signed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, record = signed_message(tmp_path, monkeypatch)

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"mail2026._domainkey.news.example.com." else None

    signature = parsed(data)["DKIM-Signature"]
    listed = re.search(r"h=([^;]+)", signature).group(1).replace(" ", "").split(":")  # type: ignore[union-attr]
    for name in ("from", "to", "subject", "date", "list-id", "list-unsubscribe"):
        assert listed.count(name) == 2, name  # present once, listed twice
    assert listed.count("reply-to") == 1  # absent: listed once, which signs its absence
    assert dkim.verify(data, dnsfunc=dns)
    head, body = data.split(b"\r\n\r\n", 1)
    for added in (
        b"Subject: Your account is suspended",
        b"List-Unsubscribe: <https://evil.example/u>",
        b"Reply-To: thief@evil.example",
    ):
        # Added just below the DKIM-Signature, i.e. above the signed header: clients show it.
        first, rest = head.split(b"\r\n", 1)
        while rest.startswith((b" ", b"\t")):
            more, rest = rest.split(b"\r\n", 1)
            first += b"\r\n" + more
        forged = first + b"\r\n" + added + b"\r\n" + rest + b"\r\n\r\n" + body
        assert not dkim.verify(forged, dnsfunc=dns), added


def test_digest_check_prints_the_dkim_record_dns_must_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.deliver import dkim_public_key
    from digest.preflight import dns_records, findings

    key_file, record = rsa_key(tmp_path)
    monkeypatch.setenv("DIGEST_SECRET", "a-long-enough-secret-for-tests")
    config = Config(
        data_dir=tmp_path / "data",
        newsletter=replace(NEWSLETTER, base_url="http://news.example.com"),
        dkim=DkimConfig(key_file=str(key_file), selector="mail2026"),
    )
    lines = dns_records(config, dkim_public_key=dkim_public_key(config))
    dkim_line = next(line for line in lines if "._domainkey." in line)
    published = "".join(re.findall(r'"([^"]*)"', dkim_line))
    assert published.encode() == record
    assert dkim_line.startswith("mail2026._domainkey.news.example.com. IN TXT ")
    levels = {f.topic: f.level for f in findings(config)}
    assert levels["newsletter.base_url"] == "warning"  # http: no one-click
    assert levels["dkim"] == "ok"
    assert levels["bounces.address"] == "warning"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rates hold steady as inflation cools. " * 200, "quoted-printable"),
        ("Ставки остаются неизменными, инфляция замедляется. " * 200, "base64"),
        ("金利は据え置き、インフレは鈍化。" * 300, "base64"),
    ],
)
def test_body_encoding_is_the_smaller_of_quoted_printable_and_base64(
    text: str, expected: str
) -> None:
    from digest.transfer import encode_body, encoded_size

    encoding, body = encode_body(text)
    assert encoding == expected
    raw = text.encode("utf-8")
    assert encoded_size(text) == len(body) <= len(raw) * 4 // 3 * 11 // 10 + 80
    message = email.message_from_bytes(
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
        + encoding.encode()
        + b"\r\n\r\n"
        + body,
        policy=email.policy.default,
    )
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == text


def test_an_http_unsubscribe_url_gets_no_one_click_post_header() -> None:
    recipient = replace(ANA, unsubscribe_url="http://news.example.com/unsubscribe?t=abc")
    m = parsed(message(recipient=recipient))
    assert m["List-Unsubscribe"].startswith("<http://news.example.com/unsubscribe?t=abc>")
    assert m["List-Unsubscribe-Post"] is None
