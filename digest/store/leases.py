"""Leases: a named role held by one process at a time, until it stops renewing.

Taking and renewing are one statement (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``): the
row changes hands only when its holder asks again or its lease has run out, so two processes
asking at once cannot both win, on either engine. Each change of holder raises ``term``, a
fencing number the new holder can show. Times are the caller's clock, in UTC: machines
that share a lease need synchronised clocks (NTP keeps them well under the lease's length).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from digest.store.engine import Database, Engine
from digest.store.rows import from_iso, iso, utcnow


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    term: int
    """1 for the first holder, one more at each change of holder."""
    expires: datetime


class LeaseTables:
    """The leases table: a part of :class:`digest.store.Store`."""

    db: Database
    engine: Engine

    def take_lease(self, name: str, holder: str, *, now: datetime, ttl: timedelta) -> int | None:
        """Take or renew ``name`` for ``ttl``; its term if ``holder`` holds it now, else None."""
        with self.db:
            row = self.db.execute(
                """INSERT INTO leases (name, holder, term, expires) VALUES (?, ?, 1, ?)
                   ON CONFLICT (name) DO UPDATE SET
                       term = CASE WHEN leases.holder = excluded.holder
                                   THEN leases.term ELSE leases.term + 1 END,
                       holder = excluded.holder,
                       expires = excluded.expires
                   WHERE leases.holder = excluded.holder OR leases.expires <= ?
                   RETURNING term""",
                (name, holder, iso(now + ttl), iso(now)),
            ).fetchone()
        return int(row[0]) if row else None

    def release_lease(self, name: str, holder: str, *, now: datetime) -> bool:
        """Let ``name`` go at once, if ``holder`` holds it (a clean stop: no wait for expiry)."""
        with self.db:
            cursor = self.db.execute(
                "UPDATE leases SET expires = ? WHERE name = ? AND holder = ?",
                (iso(now), name, holder),
            )
        return cursor.rowcount > 0

    def next_turn(
        self, name: str, *, every: timedelta, clock: Callable[[], datetime] = utcnow
    ) -> datetime:
        """The moment the caller may take its turn at ``name``: turns come ``every`` apart,
        whoever asks, in the order asked (the next free moment is kept as the expiry of the
        lease ``name``, which nobody holds).

        The clock is read once the row is locked (BEGIN IMMEDIATE on SQLite, FOR UPDATE on
        PostgreSQL): a caller kept waiting for the lock cannot be handed a turn already past.
        """
        with self.db:
            if self.engine == "sqlite":
                self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                """INSERT INTO leases (name, holder, term, expires) VALUES (?, '', 0, ?)
                   ON CONFLICT (name) DO NOTHING""",
                (name, iso(datetime.min.replace(tzinfo=UTC))),
            )
            lock = " FOR UPDATE" if self.engine == "postgresql" else ""
            row = self.db.execute(f"SELECT expires FROM leases WHERE name = ?{lock}", (name,))
            free = from_iso(row.fetchone()[0])
            turn = max(free, clock()) if free is not None else clock()
            self.db.execute(
                "UPDATE leases SET expires = ? WHERE name = ?", (iso(turn + every), name)
            )
        return turn

    def lease(self, name: str) -> Lease | None:
        row = self.db.execute(
            "SELECT name, holder, term, expires FROM leases WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        expires = from_iso(row[3])
        assert expires is not None
        return Lease(row[0], row[1], int(row[2]), expires)
