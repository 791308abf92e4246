"""The subscribers table and the delivery ledger: who gets each edition, and how it went."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from digest.models import Delivery, DeliveryStatus
from digest.store.engine import Database
from digest.store.rows import Subscriber, from_iso, iso, subscriber_from


class SubscriberTables:
    """Subscribers and their deliveries: a part of :class:`digest.store.Store`."""

    db: Database

    # --- subscribers ------------------------------------------------------------------------

    def add_subscriber(
        self, email: str, *, name: str = "", status: str = "confirmed", now: datetime
    ) -> bool:
        """Add or re-activate a subscriber; False when they were already in that state."""
        with self.db:
            row = self.db.execute(
                "SELECT status FROM subscribers WHERE email = ?", (email,)
            ).fetchone()
            if row is not None and row["status"] == status:
                return False
            self.db.execute(
                """INSERT INTO subscribers (email, name, status, created, updated)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (email) DO UPDATE
                   SET status = excluded.status, updated = excluded.updated,
                       name = CASE WHEN excluded.name != '' THEN excluded.name ELSE subscribers.name END""",
                (email, name, status, iso(now), iso(now)),
            )
        return True

    def record_signup(self, email: str, *, name: str, now: datetime) -> None:
        """A sign-up whose confirmation was just mailed: pending (a confirmed address stays so)."""
        with self.db:
            self.db.execute(
                """INSERT INTO subscribers (email, name, status, created, updated)
                   VALUES (?, ?, 'pending', ?, ?)
                   ON CONFLICT (email) DO UPDATE
                   SET status = 'pending', updated = excluded.updated,
                       name = CASE WHEN excluded.name != '' THEN excluded.name ELSE subscribers.name END
                   WHERE subscribers.status != 'confirmed'""",
                (email, name, iso(now), iso(now)),
            )

    def set_subscriber_status(self, email: str, status: str, *, now: datetime) -> bool:
        with self.db:
            cursor = self.db.execute(
                "UPDATE subscribers SET status = ?, updated = ? WHERE email = ? AND status != ?",
                (status, iso(now), email, status),
            )
        return cursor.rowcount > 0

    def subscribers(self, *, status: str | None = "confirmed") -> list[Subscriber]:
        query = "SELECT * FROM subscribers"
        args: tuple[Any, ...] = ()
        if status:
            query += " WHERE status = ?"
            args = (status,)
        rows = self.db.execute(query + " ORDER BY created, email", args)
        return [subscriber_from(r) for r in rows]

    def subscriber(self, email: str) -> Subscriber | None:
        row = self.db.execute("SELECT * FROM subscribers WHERE email = ?", (email,)).fetchone()
        return subscriber_from(row) if row else None

    def subscriber_status(self, email: str) -> str | None:
        row = self.db.execute("SELECT status FROM subscribers WHERE email = ?", (email,)).fetchone()
        return row["status"] if row else None

    # --- deliveries -------------------------------------------------------------------------

    def plan_deliveries(self, edition_key: str, emails: Iterable[str], *, now: datetime) -> None:
        """Add a pending ledger row for each recipient who has none for this edition yet."""
        with self.db:
            self.db.executemany(
                """INSERT INTO deliveries (edition_key, email, status, updated)
                   VALUES (?, ?, 'pending', ?) ON CONFLICT DO NOTHING""",
                [(edition_key, email, iso(now)) for email in emails],
            )

    def mark_delivery(
        self,
        edition_key: str,
        email: str,
        status: DeliveryStatus,
        *,
        now: datetime,
        reply: str = "",
        next_attempt: datetime | None = None,
        attempted: bool = False,
    ) -> None:
        with self.db:
            self.db.execute(
                """UPDATE deliveries
                   SET status = ?, reply = ?, next_attempt = ?, updated = ?,
                       attempts = attempts + ?
                   WHERE edition_key = ? AND email = ?""",
                (status, reply, iso(next_attempt), iso(now), int(attempted), edition_key, email),
            )

    def deliveries(self, edition_key: str) -> list[Delivery]:
        rows = self.db.execute(
            "SELECT * FROM deliveries WHERE edition_key = ? ORDER BY email", (edition_key,)
        )
        return [
            Delivery(
                r["edition_key"],
                r["email"],
                r["status"],
                r["attempts"],
                r["reply"],
                from_iso(r["next_attempt"]),
                from_iso(r["updated"]),
            )
            for r in rows
        ]
