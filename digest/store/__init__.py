"""Everything digest remembers: in SQLite in the data directory, or in a shared PostgreSQL.

Sources' fetch state, articles (one row per stable id), summaries, editions and their
archived files, subscribers and the delivery ledger. The schema is versioned: :data:`MIGRATIONS`
holds one script per version, and opening a store applies the ones it has not seen, in one
transaction each. Times are stored as ISO 8601 strings in UTC.

:class:`Store` is the one door; its queries live beside their tables, in
:mod:`~digest.store.articles`, :mod:`~digest.store.editions`, :mod:`~digest.store.archive`,
:mod:`~digest.store.subscribers`, :mod:`~digest.store.memberships` (each subscriber's
newsletters and choices), :mod:`~digest.store.deliveries` (the ledger's claims) and,
for the web site, :mod:`~digest.store.site`. The schema and its migrations are in
:mod:`~digest.store.schema`; rows become values in :mod:`~digest.store.rows`; the two engines
(SQLite by default, PostgreSQL when ``database_url`` is set) in :mod:`~digest.store.engine`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from pathlib import Path

from digest.errors import ForeignDatabase, StoreError
from digest.store.archive import ArchiveTables
from digest.store.articles import CHUNK, ArticleTables
from digest.store.deliveries import DeliveryTables
from digest.store.editions import EditionTables
from digest.store.engine import (
    Database,
    Engine,
    connect_postgresql,
    connect_sqlite,
    is_database_url,
    redact,
    reserve_connections,
)
from digest.store.leases import Lease, LeaseTables
from digest.store.memberships import MembershipTables
from digest.store.rows import (
    EditionEntry,
    EditionRecord,
    EditionRun,
    RunOutcome,
    Subscriber,
    content_hash,
    utcnow,
)
from digest.store.schema import MIGRATIONS, check_sqlite_file, migrate, schema_version
from digest.store.site import FailedDelivery, QueuedConfirmation, SiteTables
from digest.store.subscribers import SubscriberTables
from digest.store.suppression import Suppression, SuppressionTables

__all__ = [
    "CHUNK",
    "DATABASE",
    "MIGRATIONS",
    "EditionEntry",
    "EditionRecord",
    "EditionRun",
    "FailedDelivery",
    "Lease",
    "QueuedConfirmation",
    "RunOutcome",
    "Store",
    "Subscriber",
    "Suppression",
    "content_hash",
    "migrate",
    "open_store",
    "reserve_connections",
    "utcnow",
]

DATABASE = "digest.sqlite3"
FOREIGN_HINT = "restore it from a backup, or move it away to start a new store"


class Store(
    ArticleTables,
    EditionTables,
    ArchiveTables,
    SubscriberTables,
    MembershipTables,
    DeliveryTables,
    LeaseTables,
    SuppressionTables,
    SiteTables,
):
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
    copies of archived files. An empty or foreign SQLite file is an error
    (:class:`~digest.errors.ForeignDatabase`, exit 2), never a fresh store.
    """
    if url:
        return _open_postgresql(data_dir, url)
    path = data_dir / DATABASE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            _create(path)
        check_sqlite_file(path)  # before anything writes to a file that may not be digest's
        connection = connect_sqlite(path)
        migrate(connection, "sqlite")
    except ForeignDatabase as error:
        raise ForeignDatabase(f"{path}: {error}; {FOREIGN_HINT}") from None
    except (OSError, sqlite3.Error) as error:
        raise StoreError(
            f"{data_dir}: cannot open the data directory's database: {error}"
        ) from None
    return Store(connection, engine="sqlite", data_dir=data_dir)


def _create(path: Path) -> None:
    """A new SQLite database at ``path`` with the whole schema, or nothing if another won.

    Made under a temporary name and linked into place, so a database file is never seen
    half-made: an empty file is an error (ForeignDatabase), never a fresh store.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        connection = connect_sqlite(partial)
        try:
            migrate(connection, "sqlite")
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):
            os.link(partial, path)  # atomic, and never replaces a database already there
    finally:
        for leftover in (partial, *(Path(f"{partial}{end}") for end in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)


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
