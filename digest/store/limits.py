"""Rates that hold across processes and machines: the next free slot of a named rate, in the store.

Each sender reserves its slot with one statement that moves the rate's next slot on by one
interval from whichever is later, the last reservation or now, and returns it. However many
processes ask at once, the database orders them, and their slots are an interval apart:
the rate holds across every worker, where a limit counted in each process would multiply
by the number of processes. An idle rate does not bank a burst. Times are seconds since the
epoch on the callers' clocks (machines sharing a rate need NTP).
"""

from __future__ import annotations

from digest.store.engine import Database


class LimitTables:
    """The rate_slots table: a part of :class:`digest.store.Store`."""

    db: Database

    def reserve_slot(self, name: str, *, interval: float, now: float) -> float:
        """Reserve the next slot of ``name`` (one per ``interval`` seconds); when it starts."""
        with self.db:
            row = self.db.execute(
                """INSERT INTO rate_slots (name, next_slot) VALUES (:name, :now + :interval)
                   ON CONFLICT (name) DO UPDATE SET next_slot =
                       CASE WHEN rate_slots.next_slot > :now THEN rate_slots.next_slot
                            ELSE :now END + :interval
                   RETURNING next_slot""",
                {"name": name, "now": now, "interval": interval},
            ).fetchone()
        return float(row[0]) - interval
