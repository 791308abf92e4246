"""The database schema: one SQL script per version (append, never edit), applied on open."""

from __future__ import annotations

import sqlite3

from digest.addresses import address_key
from digest.errors import ForeignDatabase, StoreError

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
    # 4: delivery claims (claimant and lease), the 'unknown' outcome (no reply to the end of
    # DATA), edition versions (a build never replaces a version once a delivery of it was
    # claimed: sealed), and one matching form of each subscriber's address (address_key,
    # computed by digest.addresses.address_key, registered on the connection).
    """
    CREATE TABLE deliveries_4 (
        edition_key TEXT NOT NULL REFERENCES editions (key),
        email TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN
            ('pending', 'sending', 'sent', 'deferred', 'failed', 'skipped', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        reply TEXT NOT NULL DEFAULT '',
        next_attempt TEXT,
        updated TEXT NOT NULL,
        claimant TEXT NOT NULL DEFAULT '',
        lease_until TEXT,
        unknowns INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (edition_key, email)
    );
    INSERT INTO deliveries_4 (edition_key, email, status, attempts, reply, next_attempt, updated)
        SELECT edition_key, email, status, attempts, reply, next_attempt, updated
        FROM deliveries ORDER BY rowid;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_4 RENAME TO deliveries;
    CREATE INDEX deliveries_by_status ON deliveries (edition_key, status);
    ALTER TABLE editions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE editions ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    UPDATE editions SET sealed = 1 WHERE key IN (SELECT edition_key FROM deliveries);
    ALTER TABLE subscribers ADD COLUMN address_key TEXT NOT NULL DEFAULT '';
    UPDATE subscribers SET address_key = digest_address_key(email);
    DELETE FROM subscribers WHERE rowid NOT IN (
        SELECT rowid FROM (
            SELECT rowid, ROW_NUMBER() OVER (
                PARTITION BY address_key ORDER BY updated DESC, rowid) AS n
            FROM subscribers)
        WHERE n = 1);
    CREATE UNIQUE INDEX subscribers_by_key ON subscribers (address_key);
    """,
)


def migrate(connection: sqlite3.Connection) -> int:
    """Apply the migrations the database has not seen; return its schema version.

    Safe when several processes open the database at once: the version is read again
    inside one write transaction (BEGIN IMMEDIATE), so only one of them migrates and the
    others find the work done. A database with tables but no digest version is refused.
    """
    connection.create_function(
        "digest_address_key", 1, address_key, deterministic=True
    )  # used by migration 4
    if schema_version(connection) == len(MIGRATIONS):
        return len(MIGRATIONS)
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(connection)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return len(MIGRATIONS)


def schema_version(connection: sqlite3.Connection) -> int:
    """The database's digest schema version (0: new); an error when it is not digest's."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise StoreError(
            f"database schema version {version} is newer than this digest knows "
            f"({len(MIGRATIONS)}): upgrade digest"
        )
    if version == 0 and connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
        raise ForeignDatabase("not a digest database (it has tables but no digest schema version)")
    return version


def _statements(script: str) -> list[str]:
    """A script's statements, one by one (executescript would commit the transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    assert not current.strip(), f"an incomplete statement in a migration: {current!r}"
    return statements
