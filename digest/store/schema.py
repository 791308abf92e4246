"""The database schema: one SQL script per version (append, never edit), applied on open.

One history for both engines. A migration is a script both speak, or a mapping from
engine to script where they differ (:func:`script_for`). SQLite keeps its version in
``PRAGMA user_version``; PostgreSQL in the one-row table ``schema_version``, and migrates
under an advisory lock, so machines that start together apply each migration once.
PostgreSQL reads SQLite's ``COLLATE NOCASE`` as the case-insensitive ICU collation
``nocase`` that its first migration creates (unquoted names fold to lower case). SQLite
migrates inside BEGIN IMMEDIATE and reads the version again there, so processes that open
one database together apply each migration once too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from digest.addresses import address_key
from digest.errors import ForeignDatabase, StoreError
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

_CLAIMS = """
    CREATE INDEX deliveries_by_status ON deliveries (edition_key, status);
    ALTER TABLE editions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE editions ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    UPDATE editions SET sealed = 1 WHERE key IN (SELECT edition_key FROM deliveries);
    DELETE FROM subscribers WHERE EXISTS (
        SELECT 1 FROM subscribers other
        WHERE other.address_key = subscribers.address_key
          AND (other.updated > subscribers.updated
               OR (other.updated = subscribers.updated AND other.email < subscribers.email)));
    CREATE UNIQUE INDEX subscribers_by_key ON subscribers (address_key);
"""
"""Migration 6 on both engines: versions and seals, the ledger's index, one address each
(of several spellings of one address, the most recently changed stays)."""

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
    # 6: delivery claims (claimant and lease), the 'unknown' outcome (no reply to the end of
    # DATA), edition versions (a build never replaces a version once a delivery of it was
    # claimed: sealed), and one matching form of each subscriber's address (address_key: on
    # SQLite digest.addresses.address_key itself, registered on the connection; PostgreSQL
    # lower-cases with ICU and normalises to NFC, leaving xn-- domains as they are).
    {
        "sqlite": """
    CREATE TABLE deliveries_6 (
        edition_key TEXT NOT NULL REFERENCES editions (key),
        email TEXT NOT NULL COLLATE NOCASE,
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
    INSERT INTO deliveries_6 (edition_key, email, status, attempts, reply, next_attempt, updated)
        SELECT edition_key, email, status, attempts, reply, next_attempt, updated
        FROM deliveries ORDER BY rowid;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_6 RENAME TO deliveries;
    ALTER TABLE subscribers ADD COLUMN address_key TEXT NOT NULL DEFAULT '';
    UPDATE subscribers SET address_key = digest_address_key(email);
    """
        + _CLAIMS,
        "postgresql": """
    ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_status_check;
    ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check CHECK (status IN
        ('pending', 'sending', 'sent', 'deferred', 'failed', 'skipped', 'unknown'));
    ALTER TABLE deliveries ADD COLUMN claimant TEXT NOT NULL DEFAULT '';
    ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
    ALTER TABLE deliveries ADD COLUMN unknowns INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE subscribers ADD COLUMN address_key TEXT NOT NULL DEFAULT '';
    UPDATE subscribers
        SET address_key = normalize(lower(normalize(email, NFC) COLLATE "und-x-icu"), NFC);
    """
        + _CLAIMS,
    },
    # 7: deliverability: each subscriber's opaque reference (return paths, links), the
    # suppression list, soft-bounce counts, the reports already applied, and the send-rate
    # governor's row that every sender of this store reserves its slots from.
    """
    ALTER TABLE subscribers ADD COLUMN ref TEXT;
    CREATE UNIQUE INDEX subscribers_by_ref ON subscribers (ref);
    CREATE TABLE suppressions (
        address_key TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL
    );
    CREATE TABLE bounce_scores (
        address_key TEXT PRIMARY KEY,
        score INTEGER NOT NULL,
        last_day TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE bounce_reports (
        digest TEXT PRIMARY KEY,
        received TEXT NOT NULL
    );
    CREATE TABLE send_rate (
        name TEXT PRIMARY KEY,
        next_slot DOUBLE PRECISION NOT NULL DEFAULT 0,
        day TEXT NOT NULL DEFAULT '',
        day_count INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 8: the web site's limits (hits per bucket and time window, shared by every process) and
    # the sign-up confirmation mails waiting to go (a queue, claimed with a lease).
    """
    CREATE TABLE rate_counts (
        bucket TEXT NOT NULL,
        window_start TEXT NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (bucket, window_start)
    );
    CREATE TABLE confirmations (
        address_key TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        requested TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        lease_until TEXT,
        reply TEXT NOT NULL DEFAULT '',
        updated TEXT NOT NULL
    );
    CREATE INDEX confirmations_due ON confirmations (state, not_before);
    """,
    # 9: whether an article's date was read (0: the feed's date was missing or unreadable, and
    # published is when digest first saw it)
    """
    ALTER TABLE articles ADD COLUMN dated INTEGER NOT NULL DEFAULT 1;
    """,
    # 10: the ledger's retention: an old edition's rows become counts per state.
    """
    CREATE TABLE delivery_counts (
        edition_key TEXT NOT NULL REFERENCES editions (key),
        status TEXT NOT NULL,
        count INTEGER NOT NULL,
        compacted TEXT NOT NULL,
        PRIMARY KEY (edition_key, status)
    );
    """,
    # 11: several newsletters: each subscriber's newsletters and choices in each (sections as
    # a JSON list, '' for all; empty send_time, timezone, language: the newsletter's own). A
    # row with newsletter '' records that the subscriber chose none.
    """
    CREATE TABLE memberships (
        address_key TEXT NOT NULL,
        newsletter TEXT NOT NULL,
        sections TEXT NOT NULL DEFAULT '',
        frequency TEXT NOT NULL DEFAULT 'daily' CHECK (frequency IN ('daily', 'weekly')),
        send_time TEXT NOT NULL DEFAULT '',
        timezone TEXT NOT NULL DEFAULT '',
        language TEXT NOT NULL DEFAULT '',
        updated TEXT NOT NULL,
        PRIMARY KEY (address_key, newsletter)
    );
    """,
    # 12: variants: an edition rendered once per distinct choice of sections and language
    # among its readers (the edition's own row is the variant ''), the variant each ledger row
    # is sent, and when it falls due (the reader's own send time; NULL: at once).
    """
    CREATE TABLE edition_variants (
        edition_key TEXT NOT NULL REFERENCES editions (key),
        variant TEXT NOT NULL,
        subject TEXT NOT NULL,
        html TEXT NOT NULL,
        text TEXT NOT NULL,
        preheader TEXT NOT NULL,
        PRIMARY KEY (edition_key, variant)
    );
    ALTER TABLE deliveries ADD COLUMN variant TEXT NOT NULL DEFAULT '';
    ALTER TABLE deliveries ADD COLUMN due TEXT;
    CREATE INDEX deliveries_by_due ON deliveries (due) WHERE status = 'pending';
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
    return _migrate_sqlite(cast(sqlite3.Connection, db))


def _migrate_sqlite(connection: sqlite3.Connection) -> int:
    """Every missing migration in one write transaction, the version read again inside it.

    Safe when several processes open the database at once: only the first to take the
    write lock (BEGIN IMMEDIATE) migrates; the others then find the work done.
    """
    connection.create_function("digest_address_key", 1, address_key, deterministic=True)
    if _sqlite_version(connection) == len(MIGRATIONS):
        return len(MIGRATIONS)
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _sqlite_version(connection)
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            # One statement at a time: executescript would commit the transaction.
            for statement in _statements(script_for(migration, "sqlite", number=number)):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return len(MIGRATIONS)


def _sqlite_version(connection: sqlite3.Connection) -> int:
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    _check_known(version)
    return version


def check_sqlite_file(path: Path) -> None:
    """ForeignDatabase unless ``path`` is digest's SQLite database (read only, changes nothing).

    Empty, not SQLite, or SQLite with tables but no digest schema version: never taken for a
    new store, which would hide the loss of subscribers and history.
    """
    if path.stat().st_size == 0:
        raise ForeignDatabase("the database file is empty (0 bytes), not a digest database")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            tables = connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        if "not a database" not in str(error):
            raise
        raise ForeignDatabase(f"not a digest database ({error})") from None
    if version == 0 and tables:
        raise ForeignDatabase("not a digest database (it has tables but no digest schema version)")


def _statements(script: str) -> list[str]:
    """A script's statements, one by one."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    assert not current.strip(), f"an incomplete statement in a migration: {current!r}"
    return statements


def _migrate_postgresql(db: Database) -> int:
    current = _postgresql_version(db)
    if current == len(MIGRATIONS):
        # Up to date: one read, no lock (the common case: every job and command opens the store).
        return current
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


def _postgresql_version(db: Database) -> int | None:
    """The schema's version, read without a lock; None when there is no schema yet."""
    import psycopg

    try:
        version = schema_version(db, "postgresql")
    except psycopg.errors.UndefinedTable:
        return None
    _check_known(version)
    return version


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
