"""Everything digest remembers, in one SQLite database in the data directory.

Sources' fetch state, articles (one row per stable id), summaries, editions,
subscribers and the delivery ledger. The schema is versioned with
``PRAGMA user_version``: :data:`MIGRATIONS` holds one script per version, and
opening a store applies the ones it has not seen, in one transaction each.
Times are stored as ISO 8601 strings in UTC.

:class:`Store` is the one door; its queries live beside their tables, in
:mod:`~digest.store.articles`, :mod:`~digest.store.editions`, :mod:`~digest.store.subscribers`
and, for the web site, :mod:`~digest.store.site`. The schema and its migrations are in
:mod:`~digest.store.schema`; rows become values in :mod:`~digest.store.rows`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from digest.errors import StoreError
from digest.store.articles import CHUNK, ArticleTables
from digest.store.editions import EditionTables
from digest.store.rows import (
    EditionRecord,
    EditionRun,
    RunOutcome,
    Subscriber,
    content_hash,
    utcnow,
)
from digest.store.schema import MIGRATIONS, migrate
from digest.store.site import EditionSummary, FailedDelivery, QueuedConfirmation, SiteTables
from digest.store.subscribers import SubscriberTables

__all__ = [
    "CHUNK",
    "DATABASE",
    "MIGRATIONS",
    "EditionRecord",
    "EditionRun",
    "EditionSummary",
    "FailedDelivery",
    "QueuedConfirmation",
    "RunOutcome",
    "Store",
    "Subscriber",
    "content_hash",
    "migrate",
    "open_store",
    "utcnow",
]

DATABASE = "digest.sqlite3"


class Store(ArticleTables, EditionTables, SubscriberTables, SiteTables):
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
