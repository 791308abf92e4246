"""The subscribers table: who gets the newsletter, matched by one form of their address."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from digest.addresses import address_key
from digest.store.engine import Database
from digest.store.rows import Subscriber, iso, subscriber_from


class SubscriberTables:
    """Subscribers: a part of :class:`digest.store.Store`."""

    db: Database

    # --- subscribers ------------------------------------------------------------------------
    # An address is matched by its address_key (digest.addresses); the address as first
    # given is what mail goes to.

    def add_subscriber(
        self, email: str, *, name: str = "", status: str = "confirmed", now: datetime
    ) -> bool:
        """Add or re-activate a subscriber; False when they were already in that state."""
        with self.db:
            cursor = self.db.execute(
                """INSERT INTO subscribers (email, address_key, name, status, created, updated)
                   VALUES (:email, :key, :name, :status, :now, :now)
                   ON CONFLICT (address_key) DO UPDATE
                   SET status = excluded.status, updated = excluded.updated,
                       name = CASE WHEN excluded.name != '' THEN excluded.name ELSE subscribers.name END
                   WHERE subscribers.status != excluded.status""",
                {
                    "email": email,
                    "key": address_key(email),
                    "name": name,
                    "status": status,
                    "now": iso(now),
                },
            )
        return cursor.rowcount > 0

    def record_signup(self, email: str, *, name: str, now: datetime) -> None:
        """A sign-up whose confirmation was just mailed: pending. A confirmed address stays
        confirmed, and an unsubscribed one unsubscribed until its own confirmation."""
        with self.db:
            self.db.execute(
                """INSERT INTO subscribers (email, address_key, name, status, created, updated)
                   VALUES (?, ?, ?, 'pending', ?, ?)
                   ON CONFLICT (address_key) DO UPDATE
                   SET status = 'pending', updated = excluded.updated,
                       name = CASE WHEN excluded.name != '' THEN excluded.name ELSE subscribers.name END
                   WHERE subscribers.status = 'pending'""",
                (email, address_key(email), name, iso(now), iso(now)),
            )

    def set_subscriber_status(self, email: str, status: str, *, now: datetime) -> bool:
        with self.db:
            cursor = self.db.execute(
                """UPDATE subscribers SET status = ?, updated = ?
                   WHERE address_key = ? AND status != ?""",
                (status, iso(now), address_key(email), status),
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
        row = self.db.execute(
            "SELECT * FROM subscribers WHERE address_key = ?", (address_key(email),)
        ).fetchone()
        return subscriber_from(row) if row else None

    def subscriber_status(self, email: str) -> str | None:
        row = self.db.execute(
            "SELECT status FROM subscribers WHERE address_key = ?", (address_key(email),)
        ).fetchone()
        return row["status"] if row else None
