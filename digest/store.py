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
from typing import Any

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
    # 2: which story each carried article told, and its headline and text as carried, so a
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


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str
    status: str
    created: datetime


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
        with self.db:
            self.db.execute(
                """INSERT OR REPLACE INTO sources
                   (key, url, etag, last_modified, not_before, last_success, last_error,
                    failures, disabled)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                ),
            )

    # --- articles ---------------------------------------------------------------------------

    def save_articles(self, articles: Iterable[Article], *, now: datetime) -> tuple[int, int]:
        """Insert new articles, update changed ones in place; return (new, updated).

        An article whose URL is already stored under another id (the same story in
        two feeds, or re-published with a new guid) is merged into the stored one.
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
                elif stored["content_hash"] != content_hash(article):
                    self._update_article(stored["id"], article, now)
                    updated += 1
        return new, updated

    def _stored_match(self, article: Article) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT id, content_hash FROM articles WHERE id = ?", (article.id,)
        ).fetchone()
        if row is None:
            row = self.db.execute(
                "SELECT id, content_hash FROM articles WHERE url = ? ORDER BY first_seen LIMIT 1",
                (article.url,),
            ).fetchone()
        return row

    def _update_article(self, stored_id: str, article: Article, now: datetime) -> None:
        """Keep the stored id, first-seen and published times; take what a reader sees."""
        row = _article_row(article, now=now)
        changed = (
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
                   SET status = excluded.status, name = excluded.name, updated = excluded.updated""",
                (email, name, status, _iso(now), _iso(now)),
            )
        return True

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
        return [
            Subscriber(r["email"], r["name"], r["status"], _time(r["created"]) or utcnow())
            for r in rows
        ]

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
