"""Everything digest remembers, in one SQLite database in the data directory.

Sources' fetch state, articles (one row per stable id), summaries, editions,
subscribers and the delivery ledger. The schema is versioned with
``PRAGMA user_version``: :data:`MIGRATIONS` holds one script per version, and
opening a store applies the ones it has not seen, in one transaction each.
Times are stored as ISO 8601 strings in UTC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from digest.errors import StoreError
from digest.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Email,
    FetchState,
    Image,
    SentArticle,
    Summary,
)

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE sources (
        key TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        etag TEXT NOT NULL DEFAULT '',
        last_modified TEXT NOT NULL DEFAULT '',
        not_before TEXT,
        last_success TEXT,
        last_error TEXT NOT NULL DEFAULT '',
        failures INTEGER NOT NULL DEFAULT 0,
        disabled TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        source TEXT NOT NULL,
        source_key TEXT NOT NULL,
        section TEXT NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        author TEXT NOT NULL,
        published TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        updated TEXT NOT NULL,
        image TEXT,
        language TEXT NOT NULL,
        tags TEXT NOT NULL,
        priority INTEGER NOT NULL,
        content_hash TEXT NOT NULL
    );
    CREATE INDEX articles_by_url ON articles (url);
    CREATE INDEX articles_by_published ON articles (published);
    CREATE TABLE summaries (
        article_id TEXT NOT NULL,
        settings TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        method TEXT NOT NULL,
        sentences TEXT NOT NULL,
        PRIMARY KEY (article_id, settings)
    );
    CREATE TABLE editions (
        key TEXT PRIMARY KEY,
        number INTEGER NOT NULL UNIQUE,
        built TEXT NOT NULL,
        subject TEXT NOT NULL,
        html TEXT NOT NULL,
        text TEXT NOT NULL,
        preheader TEXT NOT NULL
    );
    CREATE TABLE edition_articles (
        edition_key TEXT NOT NULL REFERENCES editions (key),
        article_id TEXT NOT NULL,
        PRIMARY KEY (edition_key, article_id)
    );
    CREATE TABLE subscribers (
        email TEXT PRIMARY KEY COLLATE NOCASE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed')),
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        edition_key TEXT NOT NULL REFERENCES editions (key),
        email TEXT NOT NULL COLLATE NOCASE,
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'sending', 'sent', 'deferred', 'failed', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        reply TEXT NOT NULL DEFAULT '',
        next_attempt TEXT,
        updated TEXT NOT NULL,
        PRIMARY KEY (edition_key, email)
    );
    """,
    # 2: what the scheduler decided for each day's edition (exactly once across restarts)
    """
    CREATE TABLE edition_runs (
        key TEXT PRIMARY KEY,
        scheduled TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('started', 'sent', 'skipped', 'missed')),
        detail TEXT NOT NULL DEFAULT '',
        updated TEXT NOT NULL
    );
    """,
    # 3: which story each carried article told, and its headline and text as carried, so a
    # story returns only when it has grown (new sources, or an article substantially updated).
    """
    ALTER TABLE edition_articles ADD COLUMN story TEXT NOT NULL DEFAULT '';
    ALTER TABLE edition_articles ADD COLUMN title TEXT NOT NULL DEFAULT '';
    ALTER TABLE edition_articles ADD COLUMN text TEXT NOT NULL DEFAULT '';
    UPDATE edition_articles SET
        story = article_id,
        title = COALESCE((SELECT title FROM articles WHERE id = article_id), ''),
        text = COALESCE((SELECT text FROM articles WHERE id = article_id), '');
    CREATE INDEX edition_articles_by_article ON edition_articles (article_id);
    """,
)

DATABASE = "digest.sqlite3"
CHUNK = 500
"""Values per ``IN (...)`` query: well under SQLite's limit on bound parameters."""


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EditionRecord:
    """A built edition as the store keeps it."""

    key: str
    number: int
    built: datetime
    email: Email
    article_ids: tuple[str, ...]


RunOutcome = Literal["started", "sent", "skipped", "missed"]


@dataclass(frozen=True)
class EditionRun:
    """What the scheduler did about one day's edition.

    ``started``: the cycle began and has not finished (it resumes on the next start);
    ``sent``: every recipient was handed the edition or had a final answer;
    ``skipped``: too few new articles; ``missed``: found too late to send (after catch_up).
    The last three are final: a second trigger for the same key does nothing.
    """

    key: str
    scheduled: datetime
    outcome: RunOutcome
    detail: str
    updated: datetime

    @property
    def final(self) -> bool:
        return self.outcome != "started"


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str
    status: str
    created: datetime
    updated: datetime | None = None
    """When the status last changed (for a pending address: when it signed up)."""


class Store:
    """The one door to the database. Open with :func:`open_store`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path
        self.data_dir = path.parent

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            yield self.db

    # --- sources ----------------------------------------------------------------------------

    def fetch_state(self, key: str) -> FetchState:
        row = self.db.execute("SELECT * FROM sources WHERE key = ?", (key,)).fetchone()
        if row is None:
            return FetchState(key=key, url=key)
        return _fetch_state(row)

    def fetch_states(self) -> list[FetchState]:
        return [_fetch_state(r) for r in self.db.execute("SELECT * FROM sources ORDER BY key")]

    def save_fetch_state(self, state: FetchState) -> None:
        self.save_fetch_states([state])

    def save_fetch_states(self, states: Iterable[FetchState]) -> None:
        """Remember each source's state, all in one transaction."""
        with self.db:
            self.db.executemany(
                """INSERT OR REPLACE INTO sources
                   (key, url, etag, last_modified, not_before, last_success, last_error,
                    failures, disabled)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        state.key,
                        state.url,
                        state.etag,
                        state.last_modified,
                        _iso(state.not_before),
                        _iso(state.last_success),
                        state.last_error,
                        state.failures,
                        state.disabled,
                    )
                    for state in states
                ],
            )

    # --- articles ---------------------------------------------------------------------------

    def save_articles(self, articles: Iterable[Article], *, now: datetime) -> tuple[int, int]:
        """Insert new articles, update changed ones in place; return (new, updated).

        An article already stored under its id, or under its URL with another id
        (re-published with a new guid, or the same story in a second feed), is the
        stored one. Its source may update it in place when the content changed; a
        second source's copy changes nothing.
        """
        new = updated = 0
        with self.db:
            for article in articles:
                stored = self._stored_match(article)
                if stored is None:
                    row = _article_row(article, now=now)
                    names = ", ".join(row)
                    self.db.execute(
                        f"INSERT INTO articles ({names}) VALUES (:{names.replace(', ', ', :')})",
                        row,
                    )
                    new += 1
                elif stored["source_key"] == article.source_key and stored[
                    "content_hash"
                ] != content_hash(article):
                    self._update_article(stored["id"], article, now)
                    updated += 1
        return new, updated

    def _stored_match(self, article: Article) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT id, source_key, content_hash FROM articles WHERE id = ?", (article.id,)
        ).fetchone()
        if row is None and article.url:
            row = self.db.execute(
                """SELECT id, source_key, content_hash FROM articles
                   WHERE url = ? ORDER BY first_seen, rowid LIMIT 1""",
                (article.url,),
            ).fetchone()
        return row

    def _update_article(self, stored_id: str, article: Article, now: datetime) -> None:
        """Keep the stored id, first-seen and published times; take what a reader sees."""
        row = _article_row(article, now=now)
        changed = (
            "url",
            "title",
            "text",
            "author",
            "image",
            "language",
            "tags",
            "content_hash",
            "updated",
        )
        self.db.execute(
            f"UPDATE articles SET {', '.join(f'{c} = :{c}' for c in changed)} WHERE id = :stored",
            {**row, "stored": stored_id},
        )

    def stored_versions(self, articles: Iterable[Article]) -> dict[str, Article]:
        """For each article already stored (by id, else by URL): its stored version, by new id."""
        wanted = list(articles)
        by_id = self._articles_where("id", [a.id for a in wanted])
        by_url = self._articles_where("url", [a.url for a in wanted if a.url and a.id not in by_id])
        found = {}
        for article in wanted:
            stored = by_id.get(article.id) or by_url.get(article.url)
            if stored is not None:
                found[article.id] = stored
        return found

    def _articles_where(self, column: str, values: list[str]) -> dict[str, Article]:
        """Stored articles whose ``column`` is one of ``values``, keyed by that value (oldest wins)."""
        found: dict[str, Article] = {}
        unique = list(dict.fromkeys(values))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            rows = self.db.execute(
                f"""SELECT * FROM articles WHERE {column} IN ({", ".join("?" * len(chunk))})
                    ORDER BY first_seen DESC, rowid DESC""",
                chunk,
            )
            found.update({row[column]: _article(row) for row in rows})
        return found

    def article(self, article_id: str) -> Article | None:
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return _article(row) if row else None

    def candidate_articles(self, *, since: datetime, edition_key: str = "") -> list[Article]:
        """Articles published since ``since`` that no other edition carried, newest first."""
        rows = self.db.execute(
            """SELECT * FROM articles
               WHERE published >= ?
                 AND id NOT IN (SELECT article_id FROM edition_articles WHERE edition_key != ?)
               ORDER BY published DESC, id""",
            (_iso(since), edition_key),
        )
        return [_article(row) for row in rows]

    def articles_stamp(self) -> str:
        """A value that changes whenever an article is stored or updated."""
        count, newest = self.db.execute("SELECT COUNT(*), MAX(updated) FROM articles").fetchone()
        return f"{count}:{newest}"

    def latest_articles(self, limit: int) -> list[Article]:
        rows = self.db.execute(
            "SELECT * FROM articles ORDER BY published DESC, id LIMIT ?", (limit,)
        )
        return [_article(row) for row in rows]

    # --- summaries --------------------------------------------------------------------------

    def cached_summary(self, article: Article, settings: str) -> Summary | None:
        row = self.db.execute(
            "SELECT * FROM summaries WHERE article_id = ? AND settings = ? AND content_hash = ?",
            (article.id, settings, content_hash(article)),
        ).fetchone()
        if row is None:
            return None
        return Summary(article.id, tuple(json.loads(row["sentences"])), row["method"])

    def save_summary(self, article: Article, settings: str, summary: Summary) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?)",
                (
                    article.id,
                    settings,
                    content_hash(article),
                    summary.method,
                    json.dumps(summary.sentences),
                ),
            )

    # --- editions ---------------------------------------------------------------------------

    def save_edition(
        self,
        email: Email,
        *,
        number: int,
        built: datetime,
        article_ids: Iterable[str],
        stories: Mapping[str, str] | None = None,
    ) -> None:
        """Save (or rebuild) an edition and the articles it carries, in one transaction.

        ``stories`` maps an article id to the story it tells (default: its own id); each
        article's headline and text are kept as carried, to tell later whether it changed.
        """
        stories = stories or {}
        with self.db:
            self.db.execute(
                "DELETE FROM edition_articles WHERE edition_key = ?", (email.edition_key,)
            )
            self.db.execute(
                "INSERT OR REPLACE INTO editions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    email.edition_key,
                    number,
                    _iso(built),
                    email.subject,
                    email.html,
                    email.text,
                    email.preheader,
                ),
            )
            self.db.executemany(
                """INSERT OR IGNORE INTO edition_articles (edition_key, article_id, story, title, text)
                   VALUES (:edition, :id, :story,
                           COALESCE((SELECT title FROM articles WHERE id = :id), ''),
                           COALESCE((SELECT text FROM articles WHERE id = :id), ''))""",
                [
                    {"edition": email.edition_key, "id": i, "story": stories.get(i, i)}
                    for i in article_ids
                ],
            )

    def sent_articles(self, *, since: datetime, before: str) -> list[SentArticle]:
        """Articles published since ``since`` that an edition older than ``before`` carried.

        Each once, as its latest such edition carried it; oldest story first.
        """
        rows = self.db.execute(
            """SELECT a.*, e.story AS sent_story, e.edition_key AS sent_edition,
                      e.title AS sent_title, e.text AS sent_text
               FROM articles a
               JOIN edition_articles e ON e.article_id = a.id
               WHERE a.published >= ? AND e.edition_key < ?
                 AND e.edition_key = (SELECT MAX(edition_key) FROM edition_articles
                                      WHERE article_id = a.id AND edition_key < ?)
               ORDER BY e.edition_key, e.story, a.id""",
            (_iso(since), before, before),
        )
        return [
            SentArticle(
                _article(row),
                row["sent_story"],
                row["sent_edition"],
                row["sent_title"],
                row["sent_text"],
            )
            for row in rows
        ]

    def write_archive(self, key: str, files: dict[str, str | bytes]) -> dict[str, Path]:
        """Write an edition's files into DATA_DIR/editions/KEY/, each atomically; return their paths."""
        folder = self.data_dir / "editions" / key
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, content in files.items():
            path = folder / name
            partial = path.with_name(path.name + ".partial")
            data = content.encode("utf-8") if isinstance(content, str) else content
            partial.write_bytes(data)
            partial.replace(path)
            paths[name] = path
        return paths

    def edition(self, key: str) -> EditionRecord | None:
        row = self.db.execute("SELECT * FROM editions WHERE key = ?", (key,)).fetchone()
        return self._edition_record(row) if row else None

    def latest_edition(self, *, before: str = "") -> EditionRecord | None:
        """The newest edition, or the newest whose key sorts before ``before``."""
        row = self.db.execute(
            "SELECT * FROM editions WHERE ? = '' OR key < ? ORDER BY key DESC LIMIT 1",
            (before, before),
        ).fetchone()
        return self._edition_record(row) if row else None

    def editions(self) -> list[EditionRecord]:
        """Every edition, newest first."""
        rows = self.db.execute("SELECT * FROM editions ORDER BY key DESC").fetchall()
        return [self._edition_record(row) for row in rows]

    def next_edition_number(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM editions").fetchone()
        return int(row[0])

    def _edition_record(self, row: sqlite3.Row) -> EditionRecord:
        ids = self.db.execute(
            "SELECT article_id FROM edition_articles WHERE edition_key = ? ORDER BY rowid",
            (row["key"],),
        )
        email = Email(row["key"], row["subject"], row["html"], row["text"], row["preheader"])
        built = _time(row["built"])
        assert built is not None
        return EditionRecord(row["key"], row["number"], built, email, tuple(r[0] for r in ids))

    def discard_unsent_edition(self, key: str) -> bool:
        """Forget an edition nobody was sent, so its articles go to the next one; False if sent."""
        with self.db:
            if self.db.execute(
                "SELECT 1 FROM deliveries WHERE edition_key = ? LIMIT 1", (key,)
            ).fetchone():
                return False
            self.db.execute("DELETE FROM edition_articles WHERE edition_key = ?", (key,))
            cursor = self.db.execute("DELETE FROM editions WHERE key = ?", (key,))
        return cursor.rowcount > 0

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
                "INSERT OR REPLACE INTO edition_runs VALUES (?, ?, ?, ?, ?)",
                (key, _iso(scheduled), outcome, detail, _iso(now)),
            )

    def edition_run(self, key: str) -> EditionRun | None:
        row = self.db.execute("SELECT * FROM edition_runs WHERE key = ?", (key,)).fetchone()
        return _edition_run(row) if row else None

    def latest_run(self) -> EditionRun | None:
        row = self.db.execute("SELECT * FROM edition_runs ORDER BY key DESC LIMIT 1").fetchone()
        return _edition_run(row) if row else None

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
                       name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END""",
                (email, name, status, _iso(now), _iso(now)),
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
                       name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END
                   WHERE status != 'confirmed'""",
                (email, name, _iso(now), _iso(now)),
            )

    def set_subscriber_status(self, email: str, status: str, *, now: datetime) -> bool:
        with self.db:
            cursor = self.db.execute(
                "UPDATE subscribers SET status = ?, updated = ? WHERE email = ? AND status != ?",
                (status, _iso(now), email, status),
            )
        return cursor.rowcount > 0

    def subscribers(self, *, status: str | None = "confirmed") -> list[Subscriber]:
        query = "SELECT * FROM subscribers"
        args: tuple[Any, ...] = ()
        if status:
            query += " WHERE status = ?"
            args = (status,)
        rows = self.db.execute(query + " ORDER BY created, email", args)
        return [_subscriber(r) for r in rows]

    def subscriber(self, email: str) -> Subscriber | None:
        row = self.db.execute("SELECT * FROM subscribers WHERE email = ?", (email,)).fetchone()
        return _subscriber(row) if row else None

    def subscriber_status(self, email: str) -> str | None:
        row = self.db.execute("SELECT status FROM subscribers WHERE email = ?", (email,)).fetchone()
        return row["status"] if row else None

    # --- deliveries -------------------------------------------------------------------------

    def plan_deliveries(self, edition_key: str, emails: Iterable[str], *, now: datetime) -> None:
        """Add a pending ledger row for each recipient who has none for this edition yet."""
        with self.db:
            self.db.executemany(
                """INSERT OR IGNORE INTO deliveries (edition_key, email, status, updated)
                   VALUES (?, ?, 'pending', ?)""",
                [(edition_key, email, _iso(now)) for email in emails],
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
                (status, reply, _iso(next_attempt), _iso(now), int(attempted), edition_key, email),
            )

    def deliveries(self, edition_key: str) -> list[Delivery]:
        rows = self.db.execute(
            "SELECT * FROM deliveries WHERE edition_key = ? ORDER BY rowid", (edition_key,)
        )
        return [
            Delivery(
                r["edition_key"],
                r["email"],
                r["status"],
                r["attempts"],
                r["reply"],
                _time(r["next_attempt"]),
                _time(r["updated"]),
            )
            for r in rows
        ]


def open_store(data_dir: Path) -> Store:
    """Open (creating when needed) the database in ``data_dir`` and bring its schema up to date."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / DATABASE
        connection = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        migrate(connection)
    except (OSError, sqlite3.Error) as error:
        raise StoreError(
            f"{data_dir}: cannot open the data directory's database: {error}"
        ) from None
    return Store(connection, path)


def migrate(connection: sqlite3.Connection) -> int:
    """Apply the migrations the database has not seen; return its schema version."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise StoreError(
            f"database schema version {version} is newer than this digest knows "
            f"({len(MIGRATIONS)}): upgrade digest"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first, so each migration runs in a transaction of its own.
        connection.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return len(MIGRATIONS)


# --- rows <-> values --------------------------------------------------------------------------


def content_hash(article: Article) -> str:
    """Changes whenever what a reader would see of the article changes."""
    payload = "\x1f".join((article.title, article.text, article.author, article.url))
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _article_row(article: Article, *, now: datetime) -> dict[str, Any]:
    return {
        "id": article.id,
        "url": article.url,
        "source": article.source,
        "source_key": article.source_key,
        "section": article.section,
        "title": article.title,
        "text": article.text,
        "author": article.author,
        "published": _iso(article.published),
        "first_seen": _iso(now),
        "updated": _iso(now),
        "image": json.dumps(dataclasses.asdict(article.image)) if article.image else None,
        "language": article.language,
        "tags": json.dumps(article.tags),
        "priority": article.priority,
        "content_hash": content_hash(article),
    }


def _article(row: sqlite3.Row) -> Article:
    published = _time(row["published"])
    assert published is not None
    return Article(
        id=row["id"],
        source=row["source"],
        section=row["section"],
        url=row["url"],
        title=row["title"],
        text=row["text"],
        published=published,
        author=row["author"],
        image=Image(**json.loads(row["image"])) if row["image"] else None,
        language=row["language"],
        tags=tuple(json.loads(row["tags"])),
        priority=row["priority"],
        source_key=row["source_key"],
    )


def _edition_run(row: sqlite3.Row) -> EditionRun:
    scheduled, updated = _time(row["scheduled"]), _time(row["updated"])
    assert scheduled is not None and updated is not None
    return EditionRun(row["key"], scheduled, row["outcome"], row["detail"], updated)


def _subscriber(row: sqlite3.Row) -> Subscriber:
    created = _time(row["created"]) or utcnow()
    return Subscriber(row["email"], row["name"], row["status"], created, _time(row["updated"]))


def _fetch_state(row: sqlite3.Row) -> FetchState:
    return FetchState(
        key=row["key"],
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        not_before=_time(row["not_before"]),
        last_success=_time(row["last_success"]),
        last_error=row["last_error"],
        failures=row["failures"],
        disabled=row["disabled"],
    )
