"""The memberships table: which newsletters each subscriber gets, and their choices in each.

A confirmed subscriber with no row belongs to the default newsletter with its defaults, so an
installation from before several newsletters behaves as it did. A subscriber who chose no
newsletter at all keeps one row with the newsletter ''.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from digest.addresses import address_key
from digest.models import DEFAULT_NEWSLETTER, FREQUENCIES, Membership
from digest.store.engine import Database, Record
from digest.store.rows import iso

_NONE = ""
"""The newsletter of the row that records "no newsletter"."""


class MembershipTables:
    """Memberships: a part of :class:`digest.store.Store`."""

    db: Database

    def memberships(self, address: str) -> list[Membership]:
        """The subscriber's newsletters, by slug; the default one when none was ever chosen
        and the subscriber is confirmed."""
        key = address_key(address)
        rows = self.db.execute(
            "SELECT * FROM memberships WHERE address_key = ? ORDER BY newsletter", (key,)
        ).fetchall()
        if rows:
            return [membership_from(row) for row in rows if row["newsletter"] != _NONE]
        status = self.db.execute(
            "SELECT status FROM subscribers WHERE address_key = ?", (key,)
        ).fetchone()
        confirmed = status is not None and status["status"] == "confirmed"
        return [Membership(DEFAULT_NEWSLETTER)] if confirmed else []

    def set_memberships(self, address: str, chosen: Sequence[Membership], *, now: datetime) -> None:
        """Replace all of the subscriber's memberships, in one transaction.

        They count from the next edition planned (an edition's ledger is planned when it is
        sealed). An empty ``chosen`` records that the subscriber wants none.
        """
        _check(chosen)
        key = address_key(address)
        rows = [_row(key, m, now) for m in chosen] or [_row(key, Membership(_NONE), now)]
        with self.db:
            self.db.execute("DELETE FROM memberships WHERE address_key = ?", (key,))
            self.db.executemany(
                """INSERT INTO memberships (address_key, newsletter, sections, frequency,
                       send_time, timezone, language, updated)
                   VALUES (:key, :newsletter, :sections, :frequency, :send_time, :timezone,
                       :language, :updated)""",
                rows,
            )

    def stored_memberships(self) -> dict[str, list[Membership]]:
        """Every stored membership by address_key (a subscriber with none stored is absent;
        one who chose none maps to an empty list)."""
        found: dict[str, list[Membership]] = {}
        for row in self.db.execute("SELECT * FROM memberships ORDER BY address_key, newsletter"):
            chosen = found.setdefault(row["address_key"], [])
            if row["newsletter"] != _NONE:
                chosen.append(membership_from(row))
        return found


def membership_from(row: Record) -> Membership:
    sections = tuple(json.loads(row["sections"])) if row["sections"] else ()
    return Membership(
        newsletter=row["newsletter"],
        sections=sections,
        frequency=row["frequency"],
        send_time=row["send_time"],
        timezone=row["timezone"],
        language=row["language"],
    )


def _row(key: str, membership: Membership, now: datetime) -> dict[str, str | None]:
    sections = json.dumps(list(membership.sections)) if membership.sections else ""
    return {
        "key": key,
        "newsletter": membership.newsletter,
        "sections": sections,
        "frequency": membership.frequency,
        "send_time": membership.send_time,
        "timezone": membership.timezone,
        "language": membership.language,
        "updated": iso(now),
    }


def _check(chosen: Sequence[Membership]) -> None:
    slugs = [m.newsletter for m in chosen]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"a newsletter chosen twice: {slugs}")
    for membership in chosen:
        if not membership.newsletter:
            raise ValueError("a membership without a newsletter")
        if membership.frequency not in FREQUENCIES:
            raise ValueError(f"frequency {membership.frequency!r}: expected daily or weekly")
