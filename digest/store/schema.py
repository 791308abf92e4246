"""The database schema: one SQL script per version (append, never edit), applied on open."""

from __future__ import annotations

import sqlite3

from digest.errors import StoreError

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
    # 4: whether an article's date was read (0: the feed's date was missing or unreadable, and
    # published is when digest first saw it)
    """
    ALTER TABLE articles ADD COLUMN dated INTEGER NOT NULL DEFAULT 1;
    """,
)


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
