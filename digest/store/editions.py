"""The editions tables: editions, the articles each carried, the scheduler's runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from digest.models import Email, SentArticle
from digest.store.engine import Database, Record, upsert
from digest.store.rows import (
    EditionRecord,
    EditionRun,
    RunOutcome,
    article_from,
    edition_run_from,
    from_iso,
    iso,
)


class EditionTables:
    """Editions, their articles, and the edition runs: a part of :class:`digest.store.Store`."""

    db: Database

    # --- editions ---------------------------------------------------------------------------

    def save_edition(
        self,
        email: Email,
        *,
        number: int,
        built: datetime,
        article_ids: Iterable[str],
        stories: Mapping[str, str] | None = None,
        replacing: int | None = None,
        variants: Mapping[str, Email] | None = None,
    ) -> bool:
        """Save a new version of an edition and the articles it carries, in one transaction.

        ``replacing`` is the version this one replaces (0: there is none yet; None: whatever
        is there). A compare-and-set: False, and nothing saved, when the stored version is
        another by now or a delivery of it has been claimed (sealed), since a version that
        is being sent never changes. ``stories`` maps an article id to the story it tells
        (default: its own id); each article's headline and text are kept as carried.
        ``variants``: the edition's other renderings by variant name, replacing any earlier.
        """
        stories = stories or {}
        values = {
            "key": email.edition_key,
            "number": number,
            "built": iso(built),
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
            "preheader": email.preheader,
            "replacing": replacing,
        }
        with self.db:
            if replacing == 0:
                cursor = self.db.execute(
                    """INSERT INTO editions (key, number, built, subject, html, text, preheader)
                       VALUES (:key, :number, :built, :subject, :html, :text, :preheader)
                       ON CONFLICT (key) DO NOTHING""",
                    values,
                )
            else:
                expected = "" if replacing is None else " AND version = :replacing"
                cursor = self.db.execute(
                    """UPDATE editions SET number = :number, built = :built, subject = :subject,
                              html = :html, text = :text, preheader = :preheader,
                              version = version + 1
                       WHERE key = :key AND sealed = 0"""
                    + expected,
                    values,
                )
                if cursor.rowcount == 0 and replacing is None:
                    cursor = self.db.execute(
                        """INSERT INTO editions (key, number, built, subject, html, text, preheader)
                           VALUES (:key, :number, :built, :subject, :html, :text, :preheader)
                           ON CONFLICT (key) DO NOTHING""",
                        values,
                    )
            if cursor.rowcount == 0:
                return False
            self.db.execute(
                "DELETE FROM edition_articles WHERE edition_key = ?", (email.edition_key,)
            )
            self._save_variants(email.edition_key, variants or {})
            self.db.executemany(
                """INSERT INTO edition_articles
                       (edition_key, article_id, story, title, text, position)
                   VALUES (:edition, :id, :story,
                           COALESCE((SELECT title FROM articles WHERE id = :id), ''),
                           COALESCE((SELECT text FROM articles WHERE id = :id), ''),
                           :position)
                   ON CONFLICT DO NOTHING""",
                [
                    {
                        "edition": email.edition_key,
                        "id": i,
                        "story": stories.get(i, i),
                        "position": position,
                    }
                    for position, i in enumerate(article_ids, start=1)
                ],
            )
        return True

    def _save_variants(self, key: str, variants: Mapping[str, Email]) -> None:
        self.db.execute("DELETE FROM edition_variants WHERE edition_key = ?", (key,))
        self.db.executemany(
            """INSERT INTO edition_variants (edition_key, variant, subject, html, text, preheader)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [(key, n, e.subject, e.html, e.text, e.preheader) for n, e in variants.items()],
        )

    def edition_variants(self, key: str) -> dict[str, Email]:
        """The edition's renderings other than its own, by variant name."""
        rows = self.db.execute(
            "SELECT * FROM edition_variants WHERE edition_key = ? ORDER BY variant", (key,)
        )
        return {
            r["variant"]: Email(key, r["subject"], r["html"], r["text"], r["preheader"])
            for r in rows
        }

    def sent_articles(self, *, since: datetime, before: str, series: str = "") -> list[SentArticle]:
        """Articles published since ``since`` that a sent edition older than ``before`` carried.

        Each once, as its latest such edition carried it; oldest story first. ``series``
        (a key pattern for LIKE) limits the editions to one newsletter and frequency.
        """
        rows = self.db.execute(
            """SELECT a.*, e.story AS sent_story, e.edition_key AS sent_edition,
                      e.title AS sent_title, e.text AS sent_text
               FROM articles a
               JOIN edition_articles e ON e.article_id = a.id
               WHERE a.published >= :since AND e.edition_key < :before
                 AND e.edition_key = (SELECT MAX(c.edition_key) FROM edition_articles c
                                      JOIN editions s ON s.key = c.edition_key
                                      WHERE c.article_id = a.id AND c.edition_key < :before
                                        AND s.sealed = 1
                                        AND (:series = '' OR c.edition_key LIKE :series))
               ORDER BY e.edition_key, e.story, a.id""",
            {"since": iso(since), "before": before, "series": series},
        )
        return [
            SentArticle(
                article_from(row),
                row["sent_story"],
                row["sent_edition"],
                row["sent_title"],
                row["sent_text"],
            )
            for row in rows
        ]

    def edition(self, key: str) -> EditionRecord | None:
        row = self.db.execute("SELECT * FROM editions WHERE key = ?", (key,)).fetchone()
        return self._edition_record(row) if row else None

    def latest_edition(self, *, before: str = "", series: str = "") -> EditionRecord | None:
        """The newest edition, or the newest whose key sorts before ``before``; of one
        newsletter and frequency when ``series`` (a key pattern for LIKE) is given."""
        row = self.db.execute(
            """SELECT * FROM editions WHERE (:before = '' OR key < :before)
               AND (:series = '' OR key LIKE :series) ORDER BY key DESC LIMIT 1""",
            {"before": before, "series": series},
        ).fetchone()
        return self._edition_record(row) if row else None

    def editions(self) -> list[EditionRecord]:
        """Every edition, newest first."""
        rows = self.db.execute("SELECT * FROM editions ORDER BY key DESC").fetchall()
        return [self._edition_record(row) for row in rows]

    def next_edition_number(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM editions").fetchone()
        return int(row[0])

    def _edition_record(self, row: Record) -> EditionRecord:
        ids = self.db.execute(
            "SELECT article_id FROM edition_articles WHERE edition_key = ? ORDER BY position",
            (row["key"],),
        )
        email = Email(row["key"], row["subject"], row["html"], row["text"], row["preheader"])
        built = from_iso(row["built"])
        assert built is not None
        return EditionRecord(
            row["key"],
            row["number"],
            built,
            email,
            tuple(r[0] for r in ids),
            version=row["version"],
            sealed=bool(row["sealed"]),
        )

    def discard_unsent_edition(self, key: str) -> bool:
        """Forget an edition nobody was sent, so its articles go to the next one; False if sent.

        Sealing it first (compare-and-set on ``sealed``) keeps any send from claiming it
        meanwhile; rows planned but never claimed go with it.
        """
        with self.db:
            cursor = self.db.execute(
                """UPDATE editions SET sealed = 1 WHERE key = ? AND sealed = 0
                   AND NOT EXISTS (SELECT 1 FROM deliveries
                                   WHERE edition_key = editions.key AND status != 'pending')""",
                (key,),
            )
            if cursor.rowcount == 0:
                return False
            self.db.execute("DELETE FROM deliveries WHERE edition_key = ?", (key,))
            self.db.execute("DELETE FROM edition_variants WHERE edition_key = ?", (key,))
            self.db.execute("DELETE FROM edition_articles WHERE edition_key = ?", (key,))
            self.db.execute("DELETE FROM edition_files WHERE edition_key = ?", (key,))
            self.db.execute("DELETE FROM editions WHERE key = ?", (key,))
        return True

    # --- edition runs -----------------------------------------------------------------------

    def record_run(
        self,
        key: str,
        outcome: RunOutcome,
        *,
        scheduled: datetime,
        now: datetime,
        detail: str = "",
    ) -> None:
        with self.db:
            self.db.execute(
                upsert(
                    "edition_runs",
                    ("key", "scheduled", "outcome", "detail", "updated"),
                    key=("key",),
                ),
                (key, iso(scheduled), outcome, detail, iso(now)),
            )

    def edition_run(self, key: str) -> EditionRun | None:
        row = self.db.execute("SELECT * FROM edition_runs WHERE key = ?", (key,)).fetchone()
        return edition_run_from(row) if row else None

    def latest_run(self, *, series: str = "") -> EditionRun | None:
        """The newest edition run; of one newsletter and frequency with ``series`` (LIKE)."""
        row = self.db.execute(
            """SELECT * FROM edition_runs WHERE (:series = '' OR key LIKE :series)
               ORDER BY key DESC LIMIT 1""",
            {"series": series},
        ).fetchone()
        return edition_run_from(row) if row else None
