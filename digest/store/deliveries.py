"""The delivery ledger: one row per edition and recipient, moved along only by the data.

    pending --claim--> sending --finish--> sent | deferred | failed | skipped | unknown
                          |  ^                      |                  |
                          |  +------ claim (due) ---+------------------+
                          +--release / lease expired--> due again

A row moves from due to ``sending`` only through :meth:`DeliveryTables.claim_deliveries`:
one conditional UPDATE that names the claimant and a lease expiry and returns the rows it
won, so two senders never win the same row. A lease that expires makes the row due again
(the claimant died). Every later change is a compare-and-set on ``sending`` and the
claimant: a row that is sent stays sent, and a sender that lost its lease changes nothing.
The SQL is portable (UPDATE ... RETURNING, ON CONFLICT); on PostgreSQL the claim's inner
SELECT adds ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from digest.models import Delivery, DeliveryStatus, Planned
from digest.store.engine import Database, Engine, Record
from digest.store.rows import from_iso, iso

DUE = """((status = 'pending' AND (due IS NULL OR due <= :now))
      OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= :now))
      OR (status = 'deferred' AND (next_attempt IS NULL OR next_attempt <= :now))
      OR (status = 'unknown' AND next_attempt IS NOT NULL AND next_attempt <= :now))"""
"""Which rows a sender may claim at ``:now`` (the rule Delivery.is_due repeats in Python)."""


class _VersionMoved(Exception):
    """The edition was rebuilt since the send planned: undo the claim."""


class DeliveryTables:
    """The delivery ledger: a part of :class:`digest.store.Store`."""

    db: Database
    engine: Engine

    def plan_deliveries(
        self, edition_key: str, emails: Iterable[str | Planned], *, now: datetime
    ) -> None:
        """Add a pending ledger row for each recipient who has none for this edition yet.

        A row already there keeps its variant and due time: a reader's new choices count
        from the next edition.
        """
        planned = [Planned(e) if isinstance(e, str) else e for e in emails]
        with self.db:
            self.db.executemany(
                """INSERT INTO deliveries (edition_key, email, status, updated, variant, due)
                   VALUES (?, ?, 'pending', ?, ?, ?)
                   ON CONFLICT (edition_key, email) DO NOTHING""",
                [(edition_key, p.email, iso(now), p.variant, iso(p.due)) for p in planned],
            )

    def next_due(self, *, after: datetime) -> datetime | None:
        """The earliest due time of a pending row later than ``after`` (the daemon wakes then)."""
        row = self.db.execute(
            "SELECT MIN(due) FROM deliveries WHERE status = 'pending' AND due > ?",
            (iso(after),),
        ).fetchone()
        return from_iso(row[0])

    def editions_due(self, *, now: datetime, series: str = "") -> list[str]:
        """The editions (of ``series``: a key pattern for LIKE) with rows a sender may claim now."""
        rows = self.db.execute(
            f"""SELECT DISTINCT edition_key FROM deliveries
                WHERE {DUE} AND (:series = '' OR edition_key LIKE :series)
                ORDER BY edition_key""",
            {"now": iso(now), "series": series},
        )
        return [row["edition_key"] for row in rows]

    def variant_counts(self, edition_key: str) -> dict[str, int]:
        """How many readers of the edition get each variant."""
        rows = self.db.execute(
            """SELECT variant, COUNT(*) AS n FROM deliveries WHERE edition_key = ?
               GROUP BY variant ORDER BY variant""",
            (edition_key,),
        )
        return {row["variant"]: int(row["n"]) for row in rows}

    def claim_deliveries(
        self,
        edition_key: str,
        *,
        version: int,
        claimant: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[Delivery] | None:
        """Claim up to ``limit`` due rows for ``claimant`` until ``lease_until``: the rows won.

        In the same transaction the edition's ``version`` is sealed (it never changes once
        a delivery of it is claimed); None, and nothing claimed, when the edition is at
        another version by now (rebuilt since the send planned).
        """
        values = {
            "key": edition_key,
            "claimant": claimant,
            "now": iso(now),
            "lease": iso(lease_until),
            "limit": limit,
            "version": version,
        }
        # The picked rows are materialized once (PostgreSQL would otherwise rescan a LIMIT
        # subquery per row), and on PostgreSQL rows another sender is claiming right now are
        # passed over, not waited for.
        skip = " FOR UPDATE SKIP LOCKED" if self.engine == "postgresql" else ""
        try:
            with self.db:
                rows = self.db.execute(
                    f"""WITH picked AS MATERIALIZED (
                            SELECT email FROM deliveries
                            WHERE edition_key = :key AND {DUE} LIMIT :limit{skip})
                        UPDATE deliveries
                        SET status = 'sending', claimant = :claimant, lease_until = :lease,
                            updated = :now
                        WHERE edition_key = :key AND {DUE}
                          AND email IN (SELECT email FROM picked)
                        RETURNING *""",
                    values,
                ).fetchall()
                if rows and not self._seal(values):
                    raise _VersionMoved
        except _VersionMoved:
            return None
        return [_delivery(row) for row in rows]

    def _seal(self, values: dict[str, Any]) -> bool:
        cursor = self.db.execute(
            "UPDATE editions SET sealed = 1 WHERE key = :key AND version = :version", values
        )
        return cursor.rowcount > 0

    def renew_claims(self, edition_key: str, *, claimant: str, lease_until: datetime) -> set[str]:
        """Extend the lease on the rows ``claimant`` still holds; return their addresses."""
        with self.db:
            rows = self.db.execute(
                """UPDATE deliveries SET lease_until = ?
                   WHERE edition_key = ? AND claimant = ? AND status = 'sending'
                   RETURNING email""",
                (iso(lease_until), edition_key, claimant),
            ).fetchall()
        return {row["email"] for row in rows}

    def finish_delivery(
        self,
        edition_key: str,
        email: str,
        *,
        claimant: str,
        status: DeliveryStatus,
        now: datetime,
        reply: str = "",
        next_attempt: datetime | None = None,
        attempted: bool = True,
        unknown: bool = False,
    ) -> bool:
        """Record an outcome for a row ``claimant`` holds; False when it holds it no longer.

        ``status`` 'sending' records a failed attempt and keeps the claim (a retry within
        the run follows).
        """
        with self.db:
            cursor = self.db.execute(
                """UPDATE deliveries
                   SET status = ?, reply = ?, next_attempt = ?, updated = ?,
                       attempts = attempts + ?, unknowns = unknowns + ?,
                       claimant = CASE WHEN ? = 'sending' THEN claimant ELSE '' END,
                       lease_until = CASE WHEN ? = 'sending' THEN lease_until ELSE NULL END
                   WHERE edition_key = ? AND email = ? AND status = 'sending' AND claimant = ?""",
                (
                    status,
                    reply,
                    iso(next_attempt),
                    iso(now),
                    int(attempted),
                    int(unknown),
                    status,
                    status,
                    edition_key,
                    email,
                    claimant,
                ),
            )
        return cursor.rowcount > 0

    def release_claims(self, edition_key: str, *, claimant: str, now: datetime) -> int:
        """Hand back the rows ``claimant`` holds, due again at once: the run stops early."""
        with self.db:
            cursor = self.db.execute(
                """UPDATE deliveries
                   SET status = CASE WHEN unknowns > 0 THEN 'unknown'
                                     WHEN attempts > 0 THEN 'deferred'
                                     ELSE 'pending' END,
                       claimant = '', lease_until = NULL, updated = ?
                   WHERE edition_key = ? AND claimant = ? AND status = 'sending'""",
                (iso(now), edition_key, claimant),
            )
        return cursor.rowcount

    def claimants(self, edition_key: str) -> set[str]:
        """Who holds rows of this edition now (leases may have run out)."""
        rows = self.db.execute(
            """SELECT DISTINCT claimant FROM deliveries
               WHERE edition_key = ? AND status = 'sending' AND claimant != ''""",
            (edition_key,),
        )
        return {row["claimant"] for row in rows}

    def expire_claims(self, edition_key: str, *, claimant: str, now: datetime) -> int:
        """End the leases of a claimant known to be gone, so its rows are due at once."""
        with self.db:
            cursor = self.db.execute(
                """UPDATE deliveries SET lease_until = ?
                   WHERE edition_key = ? AND claimant = ? AND status = 'sending'""",
                (iso(now), edition_key, claimant),
            )
        return cursor.rowcount

    # --- retention --------------------------------------------------------------------------

    def compact_deliveries(self, *, built_before: datetime, now: datetime) -> list[str]:
        """Turn the rows of editions built before ``built_before`` into counts per state.

        Never the latest edition's (a send may still work on it); an older edition's rows
        are final, since only the latest is sent. Returns the editions compacted.
        """
        with self.db:
            keys = [
                row["edition_key"]
                for row in self.db.execute(
                    """SELECT DISTINCT d.edition_key FROM deliveries d
                       JOIN editions e ON e.key = d.edition_key
                       WHERE e.built < ? AND e.key < (SELECT MAX(key) FROM editions)
                         AND NOT EXISTS (SELECT 1 FROM deliveries w
                                         WHERE w.edition_key = d.edition_key
                                           AND w.status IN ('pending', 'sending', 'deferred'))""",
                    (iso(built_before),),
                ).fetchall()
            ]
            for key in keys:
                self.db.execute(
                    """INSERT INTO delivery_counts (edition_key, status, count, compacted)
                       SELECT edition_key, status, COUNT(*), ? FROM deliveries
                       WHERE edition_key = ? GROUP BY edition_key, status
                       ON CONFLICT (edition_key, status) DO UPDATE
                       SET count = delivery_counts.count + excluded.count,
                           compacted = excluded.compacted""",
                    (iso(now), key),
                )
                self.db.execute("DELETE FROM deliveries WHERE edition_key = ?", (key,))
        return keys

    def compacted_counts(self, edition_key: str) -> dict[str, int]:
        """What a compacted edition's ledger said, per state (empty: not compacted)."""
        rows = self.db.execute(
            "SELECT status, count FROM delivery_counts WHERE edition_key = ? ORDER BY status",
            (edition_key,),
        )
        return {row["status"]: int(row["count"]) for row in rows}

    def deliveries(self, edition_key: str) -> list[Delivery]:
        rows = self.db.execute(
            "SELECT * FROM deliveries WHERE edition_key = ? ORDER BY email", (edition_key,)
        )
        return [_delivery(row) for row in rows]


def _delivery(row: Record) -> Delivery:
    return Delivery(
        row["edition_key"],
        row["email"],
        row["status"],
        row["attempts"],
        row["reply"],
        from_iso(row["next_attempt"]),
        from_iso(row["updated"]),
        claimant=row["claimant"],
        lease_until=from_iso(row["lease_until"]),
        unknowns=row["unknowns"],
        variant=row["variant"],
        due=from_iso(row["due"]),
    )
