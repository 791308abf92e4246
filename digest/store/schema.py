"""The database schema: one SQL script per version (append, never edit), applied on open.

One history for both engines. A migration is a script both speak, or a mapping from
engine to script where they differ (:func:`script_for`). SQLite keeps its version in
``PRAGMA user_version``; PostgreSQL in the one-row table ``schema_version``, and migrates
under an advisory lock, so machines that start together apply each migration once.
PostgreSQL reads SQLite's ``COLLATE NOCASE`` as the case-insensitive ICU collation
``nocase`` that its first migration creates (unquoted names fold to lower case).
"""

from __future__ import annotations

from collections.abc import Mapping

from digest.errors import StoreError
from digest.store.engine import Database, Engine

Migration = str | Mapping[Engine, str]

_NOCASE = """
    CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
"""

_ARCHIVE = """
    ALTER TABLE edition_articles ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE edition_files (
        edition_key TEXT NOT NULL,
        name TEXT NOT NULL,
        content {blob} NOT NULL,
        PRIMARY KEY (edition_key, name)
    );
"""

MIGRATIONS: tuple[Migration, ...] = (
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
    # 4: the order of an edition's articles in a column (PostgreSQL has no rowid), and the
    # archive's files in the store, so `digest serve` on any machine serves every edition.
    {
        "sqlite": _ARCHIVE.format(blob="BLOB") + "UPDATE edition_articles SET position = rowid;",
        "postgresql": _ARCHIVE.format(blob="BYTEA"),
    },
    # 5: leases: a role (the daemons' leader) held by one process until it stops renewing.
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        term INTEGER NOT NULL,
        expires TEXT NOT NULL
    );
    """,
    # 6: whether an article's date was read (0: the feed's date was missing or unreadable, and
    # published is when digest first saw it)
    """
    ALTER TABLE articles ADD COLUMN dated INTEGER NOT NULL DEFAULT 1;
    """,
)


def script_for(migration: Migration, engine: Engine, *, number: int) -> str:
    script = migration if isinstance(migration, str) else migration[engine]
    if engine == "postgresql" and number == 1:
        script = _NOCASE + script
    return script


def migrate(db: Database, engine: Engine) -> int:
    """Apply the migrations the database has not seen; return its schema version."""
    if engine == "postgresql":
        return _migrate_postgresql(db)
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    _check_known(version)
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        script = script_for(migration, engine, number=number)
        # executescript commits first, so each migration runs in a transaction of its own.
        db.executescript(  # type: ignore[attr-defined]
            f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )
    return len(MIGRATIONS)


def _migrate_postgresql(db: Database) -> int:
    while True:
        with db:
            db.execute("SELECT pg_advisory_xact_lock(hashtext('digest schema'))")
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = int(row[0]) if row else 0
            _check_known(version)
            if version == len(MIGRATIONS):
                return version
            number = version + 1
            db.execute(script_for(MIGRATIONS[version], "postgresql", number=number))
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version VALUES (?)", (number,))


def schema_version(db: Database, engine: Engine) -> int:
    if engine == "postgresql":
        row = db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _check_known(version: int) -> None:
    if version > len(MIGRATIONS):
        raise StoreError(
            f"database schema version {version} is newer than this digest knows "
            f"({len(MIGRATIONS)}): upgrade digest"
        )
