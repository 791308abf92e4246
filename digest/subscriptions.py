"""Subscribers: who may join and leave through the CLI, and what an address is.

Address validation, CSV import and export, and unsubscribing. Sign-up by double opt-in is
:mod:`digest.signup`; the web pages for both are in :mod:`digest.web`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from email_validator import EmailNotValidError, validate_email

from digest.errors import UsageError
from digest.store import Store, Subscriber

STATUSES = ("confirmed", "pending", "unsubscribed")


class InvalidAddress(UsageError):
    pass


def valid_address(text: str) -> str:
    """The address, normalized; InvalidAddress saying why it is not one (no DNS look-up)."""
    try:
        return str(validate_email(text.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as error:
        raise InvalidAddress(f"{text.strip()}: not a valid email address: {error}") from None


# --- unsubscribing ---------------------------------------------------------------------------


def unsubscribe(store: Store, address: str, *, now: datetime) -> bool:
    """Unsubscribe ``address``; False when it was not subscribed."""
    return store.set_subscriber_status(address, "unsubscribed", now=now)


# --- import and export -----------------------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    kept_unsubscribed: int = 0
    """Addresses that had unsubscribed: an import never subscribes them again."""
    suppressed: int = 0
    """Addresses on the suppression list (bounced or complained): left out."""
    problems: list[str] = field(default_factory=list)


def import_csv(store: Store, path: Path, *, now: datetime) -> ImportReport:
    """Add the addresses in a CSV file (email[,name[,status]], header optional) as confirmed."""
    report = ImportReport()
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            for line, (email, name, status) in _rows(csv.reader(file), path):
                try:
                    _import_one(store, valid_address(email), name, status, report, now)
                except UsageError as error:
                    report.problems.append(f"{path}:{line}: {error}")
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{path}: cannot read the CSV file: {error}") from None
    return report


def _rows(reader: Iterable[list[str]], path: Path) -> Iterator[tuple[int, tuple[str, str, str]]]:
    """(line, (email, name, status)) per non-empty row; a header row names the columns."""
    columns = {"email": 0, "name": 1, "status": 2}
    for number, row in enumerate(reader, start=1):
        cells = [_unguarded(c.strip()) for c in row]
        if not any(cells):
            continue
        if number == 1 and "email" in (c.lower() for c in cells):
            lowered = [c.lower() for c in cells]
            columns = {k: lowered.index(k) if k in lowered else -1 for k in columns}
            continue
        email, name, status = (cells[i] if 0 <= i < len(cells) else "" for i in columns.values())
        yield number, (email, name, status)


def _import_one(
    store: Store, address: str, name: str, status: str, report: ImportReport, now: datetime
) -> None:
    status = status.lower() or "confirmed"
    if status not in STATUSES:
        raise UsageError(f"{address}: status {status!r} is not one of {', '.join(STATUSES)}")
    known = store.subscriber(address)
    if status != "unsubscribed" and store.is_suppressed(address):
        report.suppressed += 1
    elif known is not None and known.status == "unsubscribed" and status != "unsubscribed":
        report.kept_unsubscribed += 1
    elif known is None:
        store.add_subscriber(address, name=name, status=status, now=now)
        report.added += 1
    elif store.add_subscriber(address, name=name, status=status, now=now):
        report.changed += 1
    else:
        report.unchanged += 1


def export_csv(subscribers: Iterable[Subscriber], out: TextIO) -> int:
    """Write email,name,status,created rows (the import reads them back); return the count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "status", "created"])
    count = 0
    for s in subscribers:
        cells = [s.email, s.name, s.status, s.created.isoformat(timespec="seconds")]
        writer.writerow([_guarded(cell) for cell in cells])
        count += 1
    return count


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (CSV injection)."""


def _guarded(cell: str) -> str:
    """The cell with a leading apostrophe when it would start a formula (spreadsheets hide it)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _unguarded(cell: str) -> str:
    """A cell as :func:`_guarded` wrote it, back to its value."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell
