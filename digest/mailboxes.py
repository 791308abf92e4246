"""Where bounce and complaint reports are read from: a maildir folder, an mbox file, or IMAP.

Each source yields ``(handle, bytes)`` and is told when a message has been dealt with, so it
can mark it (maildir: moved to ``cur`` with the Seen flag; IMAP: ``\\Seen``). An mbox file is
read whole each time; the store remembers the reports it has applied, so nothing counts twice.
What is read of one message is capped at :data:`digest.bounces.MAX_MESSAGE_BYTES`.
"""

from __future__ import annotations

import imaplib
import mailbox
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from digest.bounces import MAX_MESSAGE_BYTES
from digest.errors import UsageError


class Reports(Protocol):
    def messages(self) -> Iterator[tuple[str, bytes]]: ...

    def done(self, handle: str) -> None: ...


class MaildirReports:
    """A maildir folder: unseen messages in ``new`` and ``cur``; done ones move to ``cur``, Seen."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for subdir in ("new", "cur"):
            for entry in sorted((self.path / subdir).iterdir()):
                flags = entry.name.partition(":2,")[2]
                if "S" in flags or not entry.is_file():
                    continue
                try:
                    with entry.open("rb") as handle:
                        data = handle.read(MAX_MESSAGE_BYTES)
                except FileNotFoundError:
                    continue  # another `digest bounces` took it since the listing
                yield f"{subdir}/{entry.name}", data

    def done(self, handle: str) -> None:
        """Mark the message seen; one that another reader already moved is left to it."""
        source = self.path / handle
        base, _, flags = source.name.partition(":2,")
        target = self.path / "cur" / f"{base}:2,{''.join(sorted(set(flags + 'S')))}"
        with suppress(FileNotFoundError):
            source.replace(target)


class MboxReports:
    def __init__(self, path: Path) -> None:
        self.box = mailbox.mbox(path, create=False)

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for key in self.box.iterkeys():
            with self.box.get_file(key) as handle:
                yield str(key), handle.read(MAX_MESSAGE_BYTES)

    def done(self, handle: str) -> None:
        """An mbox file is left as it is; the store remembers what it applied."""


class ImapReports:
    """Unseen messages of one IMAP folder over TLS (imaps://USER@HOST[:PORT]/FOLDER)."""

    def __init__(self, connection: imaplib.IMAP4, folder: str) -> None:
        self.connection = connection
        status, _ = connection.select(_quoted(folder))
        if status != "OK":
            raise UsageError(f"bounces.mailbox: no IMAP folder {folder!r}")

    def messages(self) -> Iterator[tuple[str, bytes]]:
        status, data = self.connection.uid("SEARCH", "UNSEEN")
        if status != "OK" or not data or not data[0]:
            return
        for uid in bytes(data[0]).decode().split():
            fetched = self.connection.uid("FETCH", uid, f"(BODY.PEEK[]<0.{MAX_MESSAGE_BYTES}>)")
            body = _literal(fetched[1])
            if body is not None:
                yield uid, body

    def done(self, handle: str) -> None:
        self.connection.uid("STORE", handle, "+FLAGS", "(\\Seen)")


@contextmanager
def open_reports(location: str, *, password: str, ca_file: str = "") -> Iterator[Reports]:
    """The report source ``location`` names: imaps://, imap:// (STARTTLS) or a local path."""
    parts = urlsplit(location)
    if parts.scheme in {"imaps", "imap"}:
        connection = _imap(parts.scheme, parts.hostname or "", parts.port, ca_file=ca_file)
        try:
            try:
                connection.login(unquote(parts.username or ""), password)
            except imaplib.IMAP4.error as error:
                raise UsageError(
                    f"bounces.mailbox: {parts.hostname}: login refused: {_text(error)}"
                ) from None
            yield ImapReports(connection, unquote(parts.path.lstrip("/")) or "INBOX")
        finally:
            with suppress(imaplib.IMAP4.error, OSError):
                connection.logout()
            with suppress(OSError):
                connection.shutdown()  # closes the socket when the LOGOUT could not go out
        return
    path = Path(location).expanduser()
    if (path / "cur").is_dir() and (path / "new").is_dir():
        yield MaildirReports(path)
    elif path.is_file():
        reports = MboxReports(path)
        try:
            yield reports
        finally:
            reports.box.close()
    else:
        raise UsageError(
            f"bounces.mailbox: {location}: expected a maildir folder, an mbox file or an imaps:// URL"
        )


def _imap(scheme: str, host: str, port: int | None, *, ca_file: str) -> imaplib.IMAP4:
    context = ssl.create_default_context(cafile=ca_file or None)
    try:
        if scheme == "imaps":
            return imaplib.IMAP4_SSL(host, port or 993, ssl_context=context, timeout=60)
        connection = imaplib.IMAP4(host, port or 143, timeout=60)
        connection.starttls(ssl_context=context)
        return connection
    except (OSError, imaplib.IMAP4.error) as error:
        raise UsageError(f"bounces.mailbox: cannot reach {host}: {error}") from None


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(data: list[object]) -> bytes | None:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _text(error: Exception) -> str:
    reason = error.args[0] if error.args else error
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
