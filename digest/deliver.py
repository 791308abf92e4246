"""Deliver: compose one MIME message per recipient and hand it to a transport.

A message is composed straight to bytes (:func:`compose`; :func:`compose_notice`
for the sign-up confirmation), optionally DKIM-signed (:class:`DkimSigner`),
and handed over as an :class:`Outgoing`. Two transports share one
single-method interface (:class:`Transport`): ``OutboxTransport`` writes each
message as an .eml file (the default, and what the demo uses);
``SmtpTransport`` (digest/smtp.py) sends over one reused SMTP connection.
Transports raise :class:`TemporaryFailure` (worth retrying),
:class:`PermanentFailure`, or :class:`TransportUnavailable` (nothing can be
sent now); the pipeline keeps the ledger.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from email.charset import Charset
from email.header import Header
from email.utils import format_datetime, make_msgid, quote
from pathlib import Path
from typing import Protocol

from digest.addresses import address_key
from digest.config import Config, NewsletterConfig
from digest.errors import ConfigError, TemporaryFailure
from digest.models import Recipient
from digest.smtp import SmtpTransport
from digest.transfer import encode_body


@dataclass(frozen=True)
class Outgoing:
    """One message, ready to hand over."""

    sender: str
    """The envelope sender (MAIL FROM)."""
    recipient: str
    """The one envelope recipient (RCPT TO)."""
    data: bytes
    """The whole message, CRLF line ends, already signed when DKIM is on."""
    batch: str
    """What the message belongs to (an edition key, or 'confirmations'): its outbox folder."""


class Transport(Protocol):
    def send(self, message: Outgoing) -> None:
        """Hand over one message; raise a DeliveryError subclass when it was not accepted."""

    def close(self) -> None: ...


# --- the message -----------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Header-safe text: no CR, LF or other control characters can reach a header."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())


def compose(
    *,
    subject: str,
    html: str,
    text: str,
    recipient: Recipient,
    newsletter: NewsletterConfig,
    edition_key: str,
    now: datetime,
) -> bytes:
    """A multipart/alternative message (text, then HTML), UTF-8, with the list headers."""
    domain = domain_of(newsletter.from_address)
    headers = [*_common_headers(newsletter, recipient.email, recipient.name, subject, now)]
    headers.append(("Message-ID", message_id(edition_key, recipient.email, domain)))
    headers.append(("List-Id", _address(newsletter.name, list_id(newsletter.name, domain))))
    unsubscribe = [u for u in (recipient.unsubscribe_url, recipient.unsubscribe_mailto) if u]
    if unsubscribe:
        # One URI per line: a folded header never breaks inside a URI.
        headers.append(("List-Unsubscribe", ",\r\n ".join(f"<{one_line(u)}>" for u in unsubscribe)))
    if recipient.unsubscribe_url.startswith("https://"):
        # RFC 8058: one-click only over https.
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    headers.append(("X-Digest-Edition", one_line(edition_key)))
    return _multipart(headers, [("plain", text), ("html", html)])


def compose_notice(
    *, subject: str, text: str, to: str, newsletter: NewsletterConfig, now: datetime
) -> bytes:
    """A plain-text message from the newsletter to one address (the sign-up confirmation)."""
    headers = [*_common_headers(newsletter, to, "", subject, now)]
    headers.append(("Message-ID", make_msgid("digest", domain=domain_of(newsletter.from_address))))
    headers.append(("Auto-Submitted", "auto-generated"))
    encoding, body = encode_body(text)
    headers += [("MIME-Version", "1.0"), *_text_part_headers("plain", encoding)]
    return _head(headers) + body


def _common_headers(
    newsletter: NewsletterConfig, to: str, name: str, subject: str, now: datetime
) -> list[tuple[str, str]]:
    headers = [
        ("From", _address(newsletter.name, newsletter.from_address)),
        ("To", _address(name, to)),
        ("Subject", _encoded(one_line(subject), "Subject")),
        ("Date", format_datetime(now)),
    ]
    if newsletter.reply_to:
        headers.append(("Reply-To", _address("", newsletter.reply_to)))
    return headers


def message_id(key: str, email: str, domain: str) -> str:
    """The same for a given edition and recipient, so a resent copy is recognisably the same mail."""
    digest = hashlib.sha256(f"{key}\n{address_key(email)}".encode()).hexdigest()[:20]
    return f"<digest.{re.sub(r'[^A-Za-z0-9.-]', '-', key)}.{digest}@{domain}>"


def list_id(name: str, domain: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "digest"
    return f"{slug}.{domain}"


def domain_of(address: str) -> str:
    """The address's domain, in its ASCII (IDNA) form."""
    return ascii_domain(address).rpartition("@")[2]


def _address(name: str, address: str) -> str:
    """'Name <address>', the name quoted or RFC 2047-encoded as needed.

    An internationalized mailbox (RFC 6532) stays in UTF-8: it can only travel to a
    server that offers SMTPUTF8 anyway.
    """
    name, address = one_line(name)[:100], ascii_domain(one_line(address))
    return f"{_phrase(name)} <{address}>" if name else address


def _phrase(name: str) -> str:
    if not name.isascii():
        return Charset("utf-8").header_encode(name)
    return f'"{quote(name)}"' if re.search(r'[][\\()<>@,:;".]', name) else name


def ascii_domain(address: str) -> str:
    """The address with an internationalized domain in its ASCII (IDNA) form."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    return f"{local}@{domain.encode('idna').decode('ascii')}"


@functools.lru_cache(maxsize=64)  # an edition's subject is the same for every recipient
def _encoded(value: str, name: str) -> str:
    """A header value folded at 78 columns; RFC 2047-encoded when it is not ASCII."""
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep="\r\n")


def _multipart(headers: list[tuple[str, str]], parts: list[tuple[str, str]]) -> bytes:
    # "=_" never occurs in quoted-printable text ("=" always starts "=XX" or a soft break).
    boundary = "=_digest_" + hashlib.sha256(repr(headers).encode()).hexdigest()[:24]
    head = _head(
        [
            *headers,
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative;\r\n boundary="{boundary}"'),
        ]
    )
    body = b""
    for subtype, content in parts:
        encoding, encoded = encode_body(content)
        body += f"--{boundary}\r\n".encode() + _head(_text_part_headers(subtype, encoding))
        # The CRLF before a boundary belongs to the boundary: the content keeps its last line end.
        body += encoded + b"\r\n"
    return head + body + f"--{boundary}--\r\n".encode()


def _text_part_headers(subtype: str, encoding: str) -> list[tuple[str, str]]:
    return [
        ("Content-Type", f'text/{subtype}; charset="utf-8"'),
        ("Content-Transfer-Encoding", encoding),
    ]


def _head(headers: list[tuple[str, str]]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode() + b"\r\n"


# --- DKIM ------------------------------------------------------------------------------------


class DkimSigner:
    """Adds a DKIM-Signature (relaxed/relaxed, rsa-sha256) covering the headers that matter.

    The headers in :attr:`OVERSIGNED` are listed in ``h=`` once more than the message has
    them, so a copy added on the way (a second Subject or List-Unsubscribe above the signed
    one, which many clients show) breaks the signature instead of riding on it.
    """

    HEADERS = (
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"reply-to",
        b"list-id",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"mime-version",
        b"content-type",
    )
    OVERSIGNED = frozenset(
        {
            b"from",
            b"to",
            b"subject",
            b"date",
            b"reply-to",
            b"list-id",
            b"list-unsubscribe",
            b"list-unsubscribe-post",
        }
    )

    def __init__(self, key: bytes, *, selector: str, domain: str) -> None:
        self.key = key
        self.selector = selector.encode()
        self.domain = domain.encode("idna")

    def sign(self, data: bytes) -> bytes:
        import dkim  # here: without a dkim.key_file, a send never needs it (nor dnspython)

        signature: bytes = dkim.sign(
            data,
            self.selector,
            self.domain,
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=self.header_list(data),
        )
        return signature + data

    def header_list(self, data: bytes) -> list[bytes]:
        """``h=``: each signed header as often as it occurs and the oversigned ones once more;
        at least once, which signs its absence."""
        counts = Counter(_header_names(data))
        return [
            name
            for name in self.HEADERS
            for _ in range(max(counts[name] + (name in self.OVERSIGNED), 1))
        ]


def _header_names(data: bytes) -> list[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    return [
        line.split(b":", 1)[0].strip().lower()
        for line in head.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t") and b":" in line
    ]


def make_signer(config: Config) -> DkimSigner | None:
    """The configured DKIM signer (checked by signing a probe), or None when signing is off."""
    settings = config.dkim
    if not settings.key_file:
        return None
    path = Path(settings.key_file).expanduser()
    try:
        key = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            [f"{config.path}: dkim.key_file: cannot read {path}: {error.strerror}"]
        ) from None
    signer = DkimSigner(
        key,
        selector=settings.selector,
        domain=settings.domain or domain_of(config.newsletter.from_address),
    )
    import dkim

    try:
        signer.sign(b"From: probe@example.com\r\nSubject: probe\r\n\r\nprobe\r\n")
    except dkim.DKIMException as error:
        raise ConfigError(
            [f"{config.path}: dkim.key_file: {path} is not an RSA private key in PEM: {error}"]
        ) from None
    return signer


def dkim_public_key(config: Config) -> bytes | None:
    """The DKIM key's public half as DER SubjectPublicKeyInfo (what DNS publishes), or None."""
    signer = make_signer(config)
    if signer is None:
        return None
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(signer.key, password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- the outbox ------------------------------------------------------------------------------


def outbox_folder(data_dir: Path) -> Path:
    return data_dir / "outbox"


class OutboxTransport:
    """Writes each message to OUTBOX/BATCH/RECIPIENT.eml (see path_for), atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, batch: str, recipient: str) -> Path:
        """One file per recipient: the address's matching form, made safe for a file name.

        Where characters had to be replaced (``josé``, ``josè`` -> ``jos_``), or the name
        would be too long, a hash of the address follows a ``~`` (never in a safe name),
        so no two recipients share a file.
        """
        key = address_key(recipient)
        safe = re.sub(r"[^a-z0-9@._+-]", "_", key)
        if safe != key or len(safe) > 200:
            safe = f"{safe[:200]}~{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        return self.folder / batch / f"{safe}.eml"

    def send(self, message: Outgoing) -> None:
        path = self.path_for(message.batch, message.recipient)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".eml.partial")
            with partial.open("wb") as out:
                out.write(message.data)
                out.flush()
                os.fsync(out.fileno())
            partial.replace(path)
        except OSError as error:
            raise TemporaryFailure(f"cannot write {path}: {error.strerror}") from None

    def close(self) -> None:
        pass


def make_transport(config: Config) -> Transport:
    """The transport ``delivery.transport`` names, ready to send."""
    if config.delivery.transport == "outbox":
        return OutboxTransport(outbox_folder(config.data_dir))
    if config.smtp.username and not config.smtp_password:
        raise ConfigError(
            [
                f"{config.path}: smtp.password_env: the environment variable "
                f"{config.smtp.password_env} is not set (smtp.username is)"
            ]
        )
    return SmtpTransport(config.smtp, password=config.smtp_password)
