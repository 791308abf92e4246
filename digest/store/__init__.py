"""Everything digest remembers, in one SQLite database in the data directory.

Sources' fetch state, articles (one row per stable id), summaries, editions,
subscribers and the delivery ledger. The schema is versioned with
``PRAGMA user_version``: :data:`MIGRATIONS` holds one script per version, and
opening a store applies the ones it has not seen, in one transaction each.
Times are stored as ISO 8601 strings in UTC.

:class:`Store` is the one door; its queries live beside their tables, in
:mod:`~digest.store.articles`, :mod:`~digest.store.editions`,
:mod:`~digest.store.subscribers` and :mod:`~digest.store.deliveries` (the ledger's claims). The schema and its migrations are in
:mod:`~digest.store.schema`; rows become values in :mod:`~digest.store.rows`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from pathlib import Path

from digest.errors import ForeignDatabase, StoreError
from digest.store.articles import CHUNK, ArticleTables
from digest.store.deliveries import DeliveryTables
from digest.store.editions import EditionTables
from digest.store.rows import (
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
    "EditionRecord",
    "EditionRun",
    "RunOutcome",
    "Store",
    "Subscriber",
    "content_hash",
    "migrate",
    "open_store",
    "utcnow",
]

DATABASE = "digest.sqlite3"
FOREIGN_HINT = "restore it from a backup, or move it away to start a new store"


class Store(ArticleTables, EditionTables, SubscriberTables, DeliveryTables):
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


def open_store(data_dir: Path) -> Store:
    """Open (creating when needed) the database in ``data_dir`` and bring its schema up to date.

    A new database is made whole under a temporary name and linked into place, so a
    database file is never seen half-made: an empty or foreign file is an error
    (:class:`~digest.errors.ForeignDatabase`), never a fresh store.
    """
    path = data_dir / DATABASE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            _create(path)
        if path.stat().st_size == 0:
            raise ForeignDatabase("the database file is empty (0 bytes), not a digest database")
        connection = _connect(path)
        migrate(connection)
    except ForeignDatabase as error:
        raise ForeignDatabase(f"{path}: {error}; {FOREIGN_HINT}") from None
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error):
            raise ForeignDatabase(
                f"{path}: not a digest database ({error}); {FOREIGN_HINT}"
            ) from None
        raise StoreError(
            f"{data_dir}: cannot open the data directory's database: {error}"
        ) from None
    except (OSError, sqlite3.Error) as error:
        raise StoreError(
            f"{data_dir}: cannot open the data directory's database: {error}"
        ) from None
    return Store(connection, path)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")
    connection.row_factory = sqlite3.Row
    try:
        schema_version(connection)  # before anything writes to a file that may not be ours
    except BaseException:
        connection.close()
        raise
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _create(path: Path) -> None:
    """A new database at ``path``, with the whole schema, or nothing if another process won."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        connection = _connect(partial)
        try:
            migrate(connection)
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):
            os.link(partial, path)  # atomic, and never replaces a database already there
    finally:
        for leftover in (partial, *(Path(f"{partial}{end}") for end in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
