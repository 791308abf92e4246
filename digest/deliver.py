"""Deliver: compose one MIME message per recipient and hand it to a transport.

Two transports share one single-method interface (:class:`Transport`):
``OutboxTransport`` writes each message as an .eml file (the default, and what
the demo uses); ``SmtpTransport`` sends over one reused SMTP connection.
Transports raise :class:`TemporaryFailure` (worth retrying) or
:class:`PermanentFailure`; the pipeline keeps the ledger.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import smtplib
import socket
import ssl
import time
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from digest.config import NewsletterConfig, SmtpConfig
from digest.errors import PermanentFailure, TemporaryFailure
from digest.models import Recipient


class Transport(Protocol):
    def send(self, message: EmailMessage, recipient: str) -> None:
        """Hand over one message; raise TemporaryFailure or PermanentFailure when it was not accepted."""

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
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML), UTF-8, with list headers."""
    message = EmailMessage(policy=SMTP)
    sender_domain = newsletter.from_address.rpartition("@")[2]
    message["From"] = Address(one_line(newsletter.name), addr_spec=newsletter.from_address)
    message["To"] = Address(one_line(recipient.name), addr_spec=recipient.email)
    if newsletter.reply_to:
        message["Reply-To"] = newsletter.reply_to
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(edition_key, recipient.email, sender_domain)
    message["List-Id"] = f"{one_line(newsletter.name)} <{list_id(newsletter.name, sender_domain)}>"
    unsubscribe = [u for u in (recipient.unsubscribe_url, recipient.unsubscribe_mailto) if u]
    if unsubscribe:
        message["List-Unsubscribe"] = ", ".join(f"<{u}>" for u in unsubscribe)
    if recipient.unsubscribe_url:
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-Digest-Edition"] = edition_key
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def message_id(edition_key: str, email: str, domain: str) -> str:
    """The same for a given edition and recipient, so a resent copy is recognisably the same mail."""
    digest = hashlib.sha256(f"{edition_key}\n{email.lower()}".encode()).hexdigest()[:20]
    return f"<digest.{edition_key}.{digest}@{domain}>"


def list_id(name: str, domain: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "digest"
    return f"{slug}.{domain}"


# --- the outbox ------------------------------------------------------------------------------


class OutboxTransport:
    """Writes each message to OUTBOX/EDITION/RECIPIENT.eml, atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, edition_key: str, recipient: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient.lower())
        return self.folder / edition_key / f"{safe}.eml"

    def send(self, message: EmailMessage, recipient: str) -> None:
        path = self.path_for(str(message["X-Digest-Edition"]), recipient)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".eml.partial")
            with partial.open("wb") as out:
                out.write(message.as_bytes())
                out.flush()
                os.fsync(out.fileno())
            partial.replace(path)
        except OSError as error:
            raise TemporaryFailure(f"cannot write {path}: {error.strerror}") from None

    def close(self) -> None:
        pass


# --- SMTP ------------------------------------------------------------------------------------


class SmtpTransport:
    """One SMTP connection, opened on first use, reused, and reopened when it drops."""

    def __init__(
        self, settings: SmtpConfig, *, password: str = "", rate_limit: float = 0.0
    ) -> None:
        self.settings = settings
        self.password = password
        self.interval = 1.0 / rate_limit if rate_limit > 0 else 0.0
        self._connection: smtplib.SMTP | None = None
        self._last_send = 0.0

    def send(self, message: EmailMessage, recipient: str) -> None:
        self._wait_for_rate_limit()
        try:
            connection = self._connect()
            refused = connection.send_message(message, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = error.recipients.get(recipient, (550, b"recipient refused"))
            raise _failure(code, reply) from None
        except smtplib.SMTPResponseException as error:
            self._reset_after(error)
            raise _failure(error.smtp_code, error.smtp_error) from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._drop()
            raise TemporaryFailure(f"connection lost: {error or type(error).__name__}") from None
        if refused:
            code, reply = refused[recipient]
            raise _failure(code, reply)

    def _wait_for_rate_limit(self) -> None:
        if self.interval:
            delay = self._last_send + self.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last_send = time.monotonic()

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        s = self.settings
        timeout = s.timeout.total_seconds()
        context = ssl.create_default_context()
        try:
            connection: smtplib.SMTP
            if s.security == "ssl":
                connection = smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=context)
            else:
                connection = smtplib.SMTP(s.host, s.port, timeout=timeout)
            _no_delay(connection)
            connection.ehlo()
            if s.security == "starttls":
                connection.starttls(context=context)
                _no_delay(connection)
                connection.ehlo()
            if s.username:
                connection.login(s.username, self.password)
        except smtplib.SMTPAuthenticationError as error:
            raise PermanentFailure(
                f"SMTP login refused: {error.smtp_code} {_text(error.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise TemporaryFailure(f"cannot connect to {s.host}:{s.port}: {error}") from None
        self._connection = connection
        return connection

    def _reset_after(self, error: smtplib.SMTPResponseException) -> None:
        """After a refused message, RSET so the connection can carry the next one."""
        if self._connection is None or error.smtp_code == 421:
            self._drop()
            return
        try:
            self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._connection.quit()
            self._drop()


def _no_delay(connection: smtplib.SMTP) -> None:
    # smtplib writes a command and waits for its reply; with Nagle's algorithm on, each
    # small write after TLS waits for the previous ACK (tens of milliseconds per message).
    if connection.sock is not None:
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _text(reply: bytes | str) -> str:
    return one_line(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)


def _failure(code: int, reply: bytes | str) -> TemporaryFailure | PermanentFailure:
    message = f"{code} {_text(reply)}"
    return TemporaryFailure(message) if 400 <= code < 500 else PermanentFailure(message)
