"""What the web site keeps and reads: rate limits, the confirmation-mail queue, the archive's
index and the status dashboard's figures.

Every limit and every claim is one conditional statement, so it holds across threads and
processes alike: a hit is counted only while its window is under the limit
(``ON CONFLICT … DO UPDATE … WHERE hits < limit RETURNING``), and a queued mail is claimed by
the one ``UPDATE`` that finds it still due. None of these queries reads an edition's HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.addresses import address_key
from digest.store.engine import Database, Engine
from digest.store.rows import from_iso, iso


@dataclass(frozen=True)
class QueuedConfirmation:
    """A sign-up whose confirmation mail is claimed for sending."""

    email: str
    name: str
    requested: datetime
    attempts: int


@dataclass(frozen=True)
class FailedDelivery:
    edition_key: str
    email: str
    reply: str
    updated: datetime | None


class SiteTables:
    """Limits, the confirmation queue and the site's summaries: a part of :class:`digest.store.Store`."""

    db: Database
    engine: Engine

    # --- rate limits ------------------------------------------------------------------------

    def take_hit(self, bucket: str, window_start: datetime, limit: int) -> bool:
        """Count one hit in ``bucket`` for the window; False (nothing counted) when it is full."""
        with self.db:
            row = self.db.execute(
                """INSERT INTO rate_counts (bucket, window_start, hits) VALUES (?, ?, 1)
                   ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_counts.hits + 1
                   WHERE rate_counts.hits < ?
                   RETURNING hits""",
                (bucket, iso(window_start), limit),
            ).fetchone()
        return row is not None and int(row[0]) <= limit

    def hits(self, bucket: str, window_start: datetime) -> int:
        row = self.db.execute(
            "SELECT hits FROM rate_counts WHERE bucket = ? AND window_start = ?",
            (bucket, iso(window_start)),
        ).fetchone()
        return int(row[0]) if row else 0

    def prune_hits(self, *, before: datetime) -> int:
        """Forget the counts of windows that started before ``before``."""
        with self.db:
            cursor = self.db.execute(
                "DELETE FROM rate_counts WHERE window_start < ?", (iso(before),)
            )
        return cursor.rowcount

    # --- the confirmation queue -------------------------------------------------------------

    def queue_confirmation(
        self, email: str, *, name: str, now: datetime, resend_after: timedelta
    ) -> bool:
        """Queue a confirmation mail; False when one is queued, in flight or went out lately."""
        with self.db:
            row = self.db.execute(
                """INSERT INTO confirmations
                       (address_key, email, name, requested, state, attempts, not_before, updated)
                   VALUES (?, ?, ?, ?, 'queued', 0, ?, ?)
                   ON CONFLICT (address_key) DO UPDATE
                   SET email = excluded.email, name = excluded.name,
                       requested = excluded.requested, state = 'queued', attempts = 0,
                       not_before = excluded.not_before, lease_until = NULL, reply = '',
                       updated = excluded.updated
                   WHERE confirmations.state IN ('sent', 'failed', 'dropped')
                     AND confirmations.updated < ?
                   RETURNING email""",
                (
                    address_key(email),
                    email,
                    name,
                    iso(now),
                    iso(now),
                    iso(now),
                    iso(now - resend_after),
                ),
            ).fetchone()
        return row is not None

    def claim_confirmation(
        self, *, now: datetime, lease: timedelta, oldest: datetime
    ) -> QueuedConfirmation | None:
        """Claim the oldest due mail (queued, or in flight with its lease run out) requested
        after ``oldest``; None when there is none. Older ones are dropped."""
        due = "(state = 'queued' AND not_before <= :now) OR (state = 'sending' AND lease_until < :now)"
        args = {"now": iso(now), "until": iso(now + lease), "oldest": iso(oldest)}
        # PostgreSQL: concurrent claimers each take another row instead of queueing on one.
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.engine == "postgresql" else ""
        with self.db:
            self.db.execute(
                f"UPDATE confirmations SET state = 'dropped', updated = :now "
                f"WHERE ({due}) AND requested < :oldest",
                args,
            )
            row = self.db.execute(
                f"""UPDATE confirmations
                    SET state = 'sending', lease_until = :until, attempts = attempts + 1,
                        updated = :now
                    WHERE address_key = (SELECT address_key FROM confirmations WHERE {due}
                                   ORDER BY requested LIMIT 1{skip_locked})
                      AND ({due})
                    RETURNING email, name, requested, attempts""",
                args,
            ).fetchone()
        if row is None:
            return None
        requested = from_iso(row["requested"])
        assert requested is not None
        return QueuedConfirmation(row["email"], row["name"], requested, row["attempts"])

    def finish_confirmation(
        self,
        email: str,
        state: str,
        *,
        now: datetime,
        reply: str = "",
        retry_at: datetime | None = None,
    ) -> bool:
        """Record how a claimed mail went: 'sent', 'failed', or 'queued' again (``retry_at``)."""
        with self.db:
            cursor = self.db.execute(
                """UPDATE confirmations
                   SET state = ?, reply = ?, not_before = COALESCE(?, not_before),
                       lease_until = NULL, updated = ?
                   WHERE address_key = ? AND state = 'sending'""",
                (state, reply[:500], iso(retry_at), iso(now), address_key(email)),
            )
        return cursor.rowcount > 0

    def prune_confirmations(self, *, before: datetime) -> int:
        """Forget finished mails (sent, failed, dropped) last changed before ``before``."""
        with self.db:
            cursor = self.db.execute(
                """DELETE FROM confirmations
                   WHERE state IN ('sent', 'failed', 'dropped') AND updated < ?""",
                (iso(before),),
            )
        return cursor.rowcount

    def confirmation_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, COUNT(*) FROM confirmations GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}

    # --- the archive and the dashboard --------------------------------------------------------

    def latest_edition_key(self) -> str | None:
        row = self.db.execute(
            "SELECT key FROM editions WHERE key NOT LIKE ? ORDER BY key DESC LIMIT 1", ("%/%",)
        ).fetchone()
        return str(row[0]) if row else None

    def delivery_counts(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each edition key, its ledger rows counted by state."""
        counts: dict[str, dict[str, int]] = {key: {} for key in keys}
        if keys:
            marks = ", ".join("?" for _ in keys)
            rows = self.db.execute(
                f"""SELECT edition_key, status, COUNT(*) FROM deliveries
                    WHERE edition_key IN ({marks}) GROUP BY edition_key, status""",
                tuple(keys),
            )
            for key, status, count in rows:
                counts[key][status] = int(count)
        return counts

    def recent_failures(self, keys: Sequence[str], *, limit: int = 20) -> list[FailedDelivery]:
        """The latest failed deliveries of these editions, newest first."""
        if not keys:
            return []
        marks = ", ".join("?" for _ in keys)
        rows = self.db.execute(
            f"""SELECT edition_key, email, reply, updated FROM deliveries
                WHERE edition_key IN ({marks}) AND status = 'failed'
                ORDER BY updated DESC LIMIT ?""",
            (*keys, limit),
        )
        return [
            FailedDelivery(r["edition_key"], r["email"], r["reply"], from_iso(r["updated"]))
            for r in rows
        ]

    def subscriber_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}
