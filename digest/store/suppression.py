"""Deliverability tables: subscribers' opaque references, the suppression list, soft-bounce
scores, reports already read, and the send-rate governor shared by every sender.

Every change is one statement or one transaction that names what it expects, so any number of
`digest bounces`, `digest send` and daemons on one store (SQLite file or PostgreSQL) agree:
a report is applied once (its digest is inserted once), a soft bounce counts once a day, and
each send slot is handed out once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from digest.addresses import address_key
from digest.store.engine import Database
from digest.store.rows import iso

RATE = "smtp"
"""The governor's row: one for all senders of this store."""


@dataclass(frozen=True)
class Suppression:
    email: str
    reason: str
    detail: str
    created: str


class SuppressionTables:
    """References, suppressions, bounce scores and the send governor: a part of the Store."""

    db: Database

    # --- references -----------------------------------------------------------------------

    def subscriber_refs(self, emails: Iterable[str]) -> dict[str, str]:
        """Each subscriber's opaque reference, made the first time it is asked for, by address."""
        wanted = list(emails)
        with self.db:
            for email in wanted:
                self.db.execute(
                    "UPDATE subscribers SET ref = ? WHERE address_key = ? AND ref IS NULL",
                    (secrets.token_hex(8), address_key(email)),
                )
        refs: dict[str, str] = {}
        for email in wanted:
            row = self.db.execute(
                "SELECT ref FROM subscribers WHERE address_key = ?", (address_key(email),)
            ).fetchone()
            if row is not None and row[0]:
                refs[email] = str(row[0])
        return refs

    def email_by_ref(self, ref: str) -> str | None:
        row = self.db.execute("SELECT email FROM subscribers WHERE ref = ?", (ref,)).fetchone()
        return None if row is None else str(row[0])

    # --- reports ----------------------------------------------------------------------------

    def report_seen(self, report: str) -> bool:
        row = self.db.execute("SELECT 1 FROM bounce_reports WHERE digest = ?", (report,))
        return row.fetchone() is not None

    def first_reading(self, report: str, *, now: datetime) -> bool:
        """True for the one caller that records ``report`` (a digest of its bytes) first."""
        with self.db:
            row = self.db.execute(
                """INSERT INTO bounce_reports (digest, received) VALUES (?, ?)
                   ON CONFLICT (digest) DO NOTHING RETURNING digest""",
                (report, iso(now)),
            ).fetchone()
        return row is not None

    def add_soft_bounce(self, email: str, *, today: date, stale_before: date, now: datetime) -> int:
        """Count a soft bounce (once a day; the count starts again after a quiet spell)."""
        with self.db:
            row = self.db.execute(
                """INSERT INTO bounce_scores (address_key, score, last_day, updated)
                   VALUES (:key, 1, :day, :now)
                   ON CONFLICT (address_key) DO UPDATE SET
                       score = CASE
                           WHEN bounce_scores.last_day = :day THEN bounce_scores.score
                           WHEN bounce_scores.last_day < :stale THEN 1
                           ELSE bounce_scores.score + 1 END,
                       last_day = :day,
                       updated = :now
                   RETURNING score""",
                {
                    "key": address_key(email),
                    "day": today.isoformat(),
                    "stale": stale_before.isoformat(),
                    "now": iso(now),
                },
            ).fetchone()
        return int(row[0])

    # --- suppression ------------------------------------------------------------------------

    def suppress(self, email: str, *, reason: str, detail: str, now: datetime) -> bool:
        """Put an address on the suppression list; False when it was there already."""
        with self.db:
            row = self.db.execute(
                """INSERT INTO suppressions (address_key, email, reason, detail, created)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (address_key) DO NOTHING RETURNING address_key""",
                (address_key(email), email, reason, detail[:500], iso(now)),
            ).fetchone()
        return row is not None

    def unsuppress(self, email: str) -> bool:
        with self.db:
            cursor = self.db.execute(
                "DELETE FROM suppressions WHERE address_key = ?", (address_key(email),)
            )
            self.db.execute(
                "DELETE FROM bounce_scores WHERE address_key = ?", (address_key(email),)
            )
        return cursor.rowcount > 0

    def is_suppressed(self, email: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM suppressions WHERE address_key = ?", (address_key(email),)
        ).fetchone()
        return row is not None

    def suppressed_keys(self) -> set[str]:
        return {str(r[0]) for r in self.db.execute("SELECT address_key FROM suppressions")}

    def suppressions(self) -> list[Suppression]:
        rows = self.db.execute(
            "SELECT email, reason, detail, created FROM suppressions ORDER BY created, email"
        ).fetchall()
        return [Suppression(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    # --- the send governor ------------------------------------------------------------------

    def reserve_send_slot(
        self, *, now: float, interval: float, today: datetime, per_day: int
    ) -> float | None:
        """The moment (epoch seconds) this caller may send its next message, or None when
        today's limit is spent. Slots are ``interval`` apart across every sender of the store."""
        with self.db:
            self.db.execute(
                "INSERT INTO send_rate (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (RATE,)
            )
            row = self.db.execute(
                """UPDATE send_rate SET
                       next_slot = (CASE WHEN next_slot > :now THEN next_slot ELSE :now END)
                                   + :interval,
                       day_count = CASE WHEN day = :day THEN day_count + 1 ELSE 1 END,
                       day = :day
                   WHERE name = :name AND (:per_day = 0 OR day <> :day OR day_count < :per_day)
                   RETURNING next_slot""",
                {
                    "now": now,
                    "interval": interval,
                    "day": today.date().isoformat(),
                    "per_day": per_day,
                    "name": RATE,
                },
            ).fetchone()
        return None if row is None else float(row[0]) - interval

    def sending_paused_until(self) -> float:
        row = self.db.execute("SELECT next_slot FROM send_rate WHERE name = ?", (RATE,)).fetchone()
        return 0.0 if row is None else float(row[0])

    def pause_sending(self, until: float) -> None:
        """No sender of this store gets a slot before ``until`` (epoch seconds)."""
        with self.db:
            self.db.execute(
                "INSERT INTO send_rate (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (RATE,)
            )
            self.db.execute(
                """UPDATE send_rate SET next_slot = ?
                   WHERE name = ? AND next_slot < ?""",
                (until, RATE, until),
            )
