"""SMTP for the deliver stage: one connection, reused, reopened when it drops.

Each message is one transaction (MAIL, RCPT, DATA) for one recipient. Replies
decide what the pipeline records: 4xx and a connection lost mid-transaction
are :class:`TemporaryFailure`, 5xx :class:`PermanentFailure`; no reply to the
end of DATA within ``smtp.data_timeout`` is :class:`UnknownOutcome`; not being able
to connect, to start TLS or to log in is :class:`TransportUnavailable`, and
stops the run. A connection the server closed while idle is noticed at MAIL,
before anything was handed over, and reopened at once.

smtplib never sets ``TCP_NODELAY``. It writes a command, or a message in
several TLS records, then waits for the reply; with Nagle's algorithm on, the
last small segment waits for the peer's delayed ACK, about 40 ms per message.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
from typing import TYPE_CHECKING

from digest.config import SmtpConfig
from digest.errors import (
    PermanentFailure,
    TemporaryFailure,
    Throttled,
    TransportUnavailable,
    UnknownOutcome,
)

if TYPE_CHECKING:
    from digest.deliver import Outgoing


class _NothingHandedOver(Exception):
    """The connection was gone before the server had any part of the message."""


class SmtpTransport:
    """Sends each message in its own transaction over one long-lived connection."""

    def __init__(self, settings: SmtpConfig, *, password: str = "") -> None:
        self.settings = settings
        self.password = password
        self._connection: smtplib.SMTP | None = None

    def send(self, message: Outgoing) -> None:
        reused = self._connection is not None
        try:
            self._transaction(self._connect(), message)
        except _NothingHandedOver as error:
            if not reused:
                raise TemporaryFailure(f"connection lost: {error}") from None
            # The server closed the idle connection: open a new one and try once more.
            try:
                self._transaction(self._connect(), message)
            except _NothingHandedOver as again:
                raise TemporaryFailure(f"connection lost: {again}") from None

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._connection.quit()
            self._drop()

    # --- one message ------------------------------------------------------------------------

    def _transaction(self, connection: smtplib.SMTP, message: Outgoing) -> None:
        international = not (message.sender.isascii() and message.recipient.isascii())
        stage = "MAIL FROM"
        try:
            if connection.has_extn("pipelining"):
                stage = "MAIL FROM, RCPT TO and DATA"
                self._pipelined(connection, message, international=international)
            else:
                code, reply = connection.mail(message.sender, ["SMTPUTF8"] if international else [])
                if code != 250:
                    raise self._refused(code, reply)
                stage = "RCPT TO"
                code, reply = connection.rcpt(message.recipient)
                if code not in (250, 251):
                    raise self._refused(code, reply)
                stage = "DATA"
                code, reply = connection.docmd("DATA")
                if code != 354:
                    raise self._refused(code, reply)
            stage = "DATA"
            connection.send(_dot_stuffed(message.data))
            stage = "the end of DATA"
            code, reply = self._final_reply(connection)
            if code != 250:
                raise self._refused(code, reply)
        except smtplib.SMTPNotSupportedError:
            raise PermanentFailure(
                "the server does not accept internationalized addresses (no SMTPUTF8)"
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._drop()
            reason = str(error) or type(error).__name__
            if stage in ("MAIL FROM", "MAIL FROM, RCPT TO and DATA"):
                raise _NothingHandedOver(reason) from None
            raise TemporaryFailure(f"connection lost during {stage}: {reason}") from None

    def _pipelined(
        self, connection: smtplib.SMTP, message: Outgoing, *, international: bool
    ) -> None:
        """MAIL FROM, RCPT TO and DATA in one write, their replies read after (RFC 2920).

        Returns once the server asked for the message (354); raises the refusal of the first
        command it refused. A server that asks for the message although it refused the
        sender or the recipient is sent an empty one's end, which it must refuse.
        """
        if international and not connection.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("SMTPUTF8")
        option = " SMTPUTF8" if international else ""
        commands = (
            f"MAIL FROM:{smtplib.quoteaddr(message.sender)}{option}\r\n"
            f"RCPT TO:{smtplib.quoteaddr(message.recipient)}\r\n"
            "DATA\r\n"
        )
        connection.send(commands.encode("utf-8" if international else "ascii"))
        refused: tuple[int, bytes] | None = None
        for expected in ((250,), (250, 251), (354,)):
            code, reply = connection.getreply()
            if code == 421:  # closing the connection: no more replies come
                raise self._refused(code, reply)
            if refused is None and code not in expected:
                refused = (code, reply)
            elif refused is not None and code == 354:  # asked for after all: end it empty
                connection.send(b".\r\n")
                connection.getreply()
        if refused is not None:
            raise self._refused(*refused)

    def _final_reply(self, connection: smtplib.SMTP) -> tuple[int, bytes]:
        """The reply to the end of DATA, waited for ``smtp.data_timeout`` (RFC 5321 4.5.3.2.6).

        No reply in time: the server has the whole message and may have accepted it, so the
        outcome is unknown (UnknownOutcome), never a failure worth an immediate retry.
        """
        wait = self.settings.data_timeout.total_seconds()
        assert connection.sock is not None
        connection.sock.settimeout(wait)
        try:
            return connection.getreply()
        except smtplib.SMTPServerDisconnected as error:
            if not isinstance(error.__context__, TimeoutError):
                raise
            self._drop()
            raise UnknownOutcome(
                f"no reply to the end of DATA within {wait:g}s: "
                "the server may or may not have accepted the message"
            ) from None
        finally:
            if connection.sock is not None:
                connection.sock.settimeout(self.settings.timeout.total_seconds())

    def _refused(self, code: int, reply: bytes | str) -> TemporaryFailure | PermanentFailure:
        """The failure a refusal means, with the connection made ready for the next message."""
        if code == 421:  # the server is closing the connection
            self._drop()
        else:
            try:
                assert self._connection is not None
                self._connection.rset()
            except (smtplib.SMTPException, OSError):
                self._drop()
        text = f"{code} {reply_text(reply)}"
        if is_throttling(code, text):
            return Throttled(text)
        return TemporaryFailure(text) if 400 <= code < 500 else PermanentFailure(text)

    # --- the connection ---------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            connection = self._open()
        except smtplib.SMTPAuthenticationError as error:
            raise TransportUnavailable(
                f"{where} refused the login of {s.username!r}: "
                f"{error.smtp_code} {reply_text(error.smtp_error)}"
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            hint = "set smtp.security" if "STARTTLS" in str(error) else "check smtp.username"
            raise TransportUnavailable(f"{where}: {error} ({hint})") from None
        except ssl.SSLCertVerificationError as error:
            raise TransportUnavailable(
                f"{where}: the server's certificate is not trusted: {error.verify_message} "
                "(smtp.ca_file can name the CA that issued it)"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise TransportUnavailable(
                f"{where} refused the connection: {error.smtp_code} {reply_text(error.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise TransportUnavailable(f"cannot connect to {where}: {error}") from None
        self._connection = connection
        return connection

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.timeout.total_seconds()
        context = ssl.create_default_context(cafile=s.ca_file or None)
        connection: smtplib.SMTP
        if s.security == "ssl":
            connection = smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=context)
        else:
            connection = smtplib.SMTP(s.host, s.port, timeout=timeout)
        try:
            _no_delay(connection)
            connection.ehlo()
            if s.security == "starttls":
                connection.starttls(context=context)
                _no_delay(connection)
                connection.ehlo()
            if s.username:
                connection.login(s.username, self.password)
        except BaseException:
            connection.close()
            raise
        return connection

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA carries it: leading dots doubled, ended by CRLF . CRLF."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _no_delay(connection: smtplib.SMTP) -> None:
    if connection.sock is not None:
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def reply_text(reply: bytes | str) -> str:
    """A server reply on one line."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


_SLOW_DOWN = re.compile(r"rate|too many|throttl|slow down|exceeded", re.IGNORECASE)


def is_throttling(code: int, text: str) -> bool:
    """421 and 454 always ask to slow down; 450, 451 and 452 when their text says so (they
    also mean greylisting or a full mailbox, which concern one recipient)."""
    return code in (421, 454) or (code in (450, 451, 452) and bool(_SLOW_DOWN.search(text)))
