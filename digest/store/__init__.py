"""Everything digest remembers: in SQLite in the data directory, or in a shared PostgreSQL.

Sources' fetch state, articles (one row per stable id), summaries, editions and their
archived files, subscribers and the delivery ledger. The schema is versioned: :data:`MIGRATIONS`
holds one script per version, and opening a store applies the ones it has not seen, in one
transaction each. Times are stored as ISO 8601 strings in UTC.

:class:`Store` is the one door; its queries live beside their tables, in
:mod:`~digest.store.articles`, :mod:`~digest.store.editions`, :mod:`~digest.store.archive`
and :mod:`~digest.store.subscribers`. The schema and its migrations are in
:mod:`~digest.store.schema`; rows become values in :mod:`~digest.store.rows`; the two
engines (SQLite by default, PostgreSQL when ``database_url`` is set) in :mod:`~digest.store.engine`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from digest.errors import StoreError
from digest.store.archive import ArchiveTables
from digest.store.articles import CHUNK, ArticleTables
from digest.store.editions import EditionTables
from digest.store.engine import (
    Database,
    Engine,
    connect_postgresql,
    connect_sqlite,
    is_database_url,
    redact,
)
from digest.store.leases import Lease, LeaseTables
from digest.store.rows import (
    EditionEntry,
    EditionRecord,
    EditionRun,
    RunOutcome,
    Subscriber,
    content_hash,
    utcnow,
)
from digest.store.schema import MIGRATIONS, migrate, schema_version
from digest.store.subscribers import SubscriberTables

__all__ = [
    "CHUNK",
    "DATABASE",
    "MIGRATIONS",
    "EditionEntry",
    "EditionRecord",
    "EditionRun",
    "Lease",
    "RunOutcome",
    "Store",
    "Subscriber",
    "content_hash",
    "migrate",
    "open_store",
    "utcnow",
]

DATABASE = "digest.sqlite3"


class Store(ArticleTables, EditionTables, ArchiveTables, SubscriberTables, LeaseTables):
    """The one door to the database. Open with :func:`open_store`."""

    def __init__(self, db: Database, *, engine: Engine, data_dir: Path) -> None:
        self.db = db
        self.engine: Engine = engine
        """``sqlite`` or ``postgresql``, for the rare statement the two spell differently."""
        self.data_dir = data_dir

    def schema_version(self) -> int:
        return schema_version(self.db, self.engine)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(data_dir: Path, *, url: str = "") -> Store:
    """Open the store and bring its schema up to date.

    With ``url`` (a ``postgresql://`` URL), the shared PostgreSQL database; without, the
    SQLite database in ``data_dir`` (created when needed). ``data_dir`` also holds the local
    copies of archived files.
    """
    if url:
        return _open_postgresql(data_dir, url)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        connection = connect_sqlite(data_dir / DATABASE)
        migrate(connection, "sqlite")
    except (OSError, sqlite3.Error) as error:
        raise StoreError(
            f"{data_dir}: cannot open the data directory's database: {error}"
        ) from None
    return Store(connection, engine="sqlite", data_dir=data_dir)


def _open_postgresql(data_dir: Path, url: str) -> Store:
    import psycopg

    if not is_database_url(url):
        raise StoreError(f"{redact(url)}: expected a postgresql:// URL")
    db = connect_postgresql(url)
    try:
        migrate(db, "postgresql")
    except psycopg.Error as error:
        db.close()
        raise StoreError(f"{redact(url)}: cannot bring the schema up to date: {error}") from None
    return Store(db, engine="postgresql", data_dir=data_dir)
