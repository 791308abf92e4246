"""A real SMTP server for the tests and benchmarks: aiosmtpd on 127.0.0.1, optionally with
STARTTLS or implicit TLS (a certificate made at run time), AUTH, and scripted faults.

Faults are scripted per recipient, one action per attempt, e.g.
``{"ana@example.com": ["451", "421", None]}``: the first attempt gets 451, the second
421 (and the connection is closed), the third goes through. Actions:

    "451", "421", "550"   the reply to RCPT TO (421 also closes the connection)
    "554"                 the reply at the end of DATA (after the whole message arrived)
    "drop"                the connection is closed in the middle of DATA

The server offers PIPELINING unless ``pipelining=False``.
``reply_delay`` makes the server slow to answer the end of DATA (after it has the message).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_string
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

REPLIES = {
    "451": "451 4.3.0 Try again later",
    "421": "421 4.7.0 Too busy, closing the connection",
    "550": "550 5.1.1 No such user here",
    "554": "554 5.6.0 Message refused",
    "454": "454 4.7.0 Throttling failure: Maximum sending rate exceeded",
}


# --- a certificate for 127.0.0.1 -------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(folder: Path, *, ip: bool = True) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost (localhost only if not ``ip``),
    valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "digest test server")])
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if ip:
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = Certificate(folder / "server.pem", folder / "server.key")
    paths.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


# --- the server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    recipients: list[str]
    data: bytes
    tls: bool
    login: str
    peer: Any
    mail_from: str = ""
    """The envelope sender (MAIL FROM): the return path bounces go to."""
    arrived: float = field(default_factory=time.monotonic)
    """When the end of its DATA came (time.monotonic), for rates measured at the server."""

    @property
    def message(self) -> Message:
        # UTF-8 headers (RFC 6532) are allowed: the bodies digest sends are ASCII anyway.
        return message_from_string(self.data.decode("utf-8"), policy=default_policy)


@dataclass
class _Handler:
    faults: dict[str, list[str | None]]
    close_after: int = 0
    """Close the connection silently after this many messages on it (0: never)."""
    reply_delay: float = 0.0
    """Seconds to wait, with the message received, before answering the end of DATA."""
    storm: int = 0
    """This many next RCPTs, whoever they are for, are answered 454 "slow down"."""
    throttled: int = 0
    pipelining: bool = True
    """Offer ESMTP PIPELINING (RFC 2920); aiosmtpd reads pipelined commands in order."""
    pipelined: int = 0
    """MAIL FROM commands that arrived with the next command already behind them."""
    received: list[Received] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    per_peer: Counter[Any] = field(default_factory=Counter)
    """Messages accepted on each connection (by its peer address), counted as they come."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self, address: str) -> str | None:
        with self.lock:
            self.attempts[address] += 1
            script = self.faults.get(address)
            return script.pop(0) if script else None

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if b"RCPT TO:" in server._reader._buffer:  # type: ignore[union-attr]
            with self.lock:
                self.pipelined += 1
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            if self.throttled < self.storm:
                self.throttled += 1
                return REPLIES["454"]
        action = self.next_action(address)
        if action in ("451", "421", "550"):
            if action == "421":
                asyncio.get_running_loop().call_soon(server.transport.close)
            return REPLIES[action]
        session.fault = action  # "554" or "drop" act later, during DATA
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if getattr(session, "fault", None) == "554":
            return REPLIES["554"]
        login = session.auth_data.login.decode() if session.authenticated else ""
        with self.lock:
            self.received.append(
                Received(
                    list(envelope.rcpt_tos),
                    bytes(envelope.original_content),
                    server.transport.get_extra_info("ssl_object") is not None,
                    login,
                    session.peer,
                    str(envelope.mail_from),
                )
            )
            self.per_peer[session.peer] += 1
            on_this_connection = self.per_peer[session.peer]
        if self.close_after and on_this_connection % self.close_after == 0:
            asyncio.get_running_loop().call_soon(server.transport.close)
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        return "250 2.0.0 Accepted"


class _FaultySMTP(SMTP):
    async def smtp_DATA(self, arg: str) -> None:
        if getattr(self.session, "fault", None) != "drop":
            await super().smtp_DATA(arg)
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.readuntil(b"\r\n")  # the message has started to arrive...
        assert self.transport is not None
        self.transport.close()  # ...and the connection goes


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


class MailServer:
    """aiosmtpd in a thread of this process; ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        *,
        security: str = "none",
        certificate: Certificate | None = None,
        login: tuple[str, str] | None = None,
        faults: dict[str, list[str | None]] | None = None,
        close_after: int = 0,
        smtputf8: bool = True,
        reply_delay: float = 0.0,
        pipelining: bool = True,
    ) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.security = security
        self.handler = _Handler(
            {k: list(v) for k, v in (faults or {}).items()}, close_after, reply_delay
        )
        self.handler.pipelining = pipelining
        kwargs: dict[str, Any] = {"server_hostname": "mail.test", "enable_SMTPUTF8": smtputf8}
        if security != "none":
            assert certificate is not None, "TLS needs a certificate"
            context = certificate.server_context()
            if security == "ssl":
                kwargs["ssl_context"] = context
            else:
                kwargs.update(tls_context=context, require_starttls=True)
        if login is not None:
            kwargs.update(authenticator=_authenticator(*login), auth_required=True)
        self.controller = _Controller(self.handler, hostname=self.host, port=self.port, **kwargs)

    def start(self) -> MailServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def count(self) -> int:
        with self.handler.lock:
            return len(self.handler.received)

    def received_by(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    def per_recipient(self) -> Counter[str]:
        return Counter(a for r in self.received for a in r.recipients)

    def connections(self) -> int:
        return len({r.peer for r in self.received})


def _authenticator(user: str, password: str) -> Any:
    def authenticate(
        server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticate


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
