"""The two engines behind the store: SQLite (the default) and PostgreSQL (shared by machines).

The store's SQL is written once, in the subset both engines speak: ``?`` and ``:name``
placeholders, ``ON CONFLICT``, ``RETURNING``, no ``rowid``, no ``PRAGMA``. :class:`Database`
is the narrow shape the store's tables use; a ``sqlite3.Connection`` has it already, and
:class:`PostgresDatabase` gives a pooled psycopg connection the same shape: it rewrites the
placeholders (once per statement text) into psycopg's, rows answer to a name and a position,
and ``with db:`` is one transaction (statements outside one commit on their own).

psycopg is imported only when a database URL is configured, so SQLite needs nothing more.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from digest.errors import StoreError

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

Engine = Literal["sqlite", "postgresql"]

POOL_SIZE = 8
"""Connections each process keeps to PostgreSQL at most (serve's threads share them), unless
it reserves more (:func:`reserve_connections`)."""

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for PostgreSQL to answer before the store gives up with a StoreError."""


class Record(Protocol):
    """A result row: a column by name or position (sqlite3.Row, :class:`PgRow`)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """What the store's tables call: sqlite3.Connection's shape, which both engines offer."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Any: ...

    def close(self) -> None: ...


def is_database_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def upsert(table: str, columns: Sequence[str], *, key: Sequence[str]) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of every other column: both engines' replace."""
    others = [c for c in columns if c not in key]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in others)
    )


# --- SQLite ---------------------------------------------------------------------------------


def connect_sqlite(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


# --- PostgreSQL -----------------------------------------------------------------------------

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?|:([A-Za-z_]\w*)|%")


@functools.lru_cache(maxsize=1024)
def pyformat(sql: str) -> str:
    """SQLite's ``?`` and ``:name`` placeholders as psycopg's ``%s`` and ``%(name)s``.

    Quoted literals and identifiers and PostgreSQL's ``::`` casts pass unchanged; a
    literal ``%`` is doubled. One left-to-right pass of a pattern without nesting.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if match.group(1):
            return f"%({match.group(1)})s"
        return token

    return _TOKEN.sub(replace, sql)


class PgRow(tuple[Any, ...]):
    """A result row that answers to a column's name and its position, like sqlite3.Row."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._index[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, index)

    return make


class PostgresDatabase:
    """A connection borrowed from the process's pool, in sqlite3.Connection's shape."""

    engine: Engine = "postgresql"

    def __init__(self, pool: psycopg_pool.ConnectionPool[Any], connection: psycopg.Connection[Any]):
        self._pool = pool
        self._connection: psycopg.Connection[Any] | None = connection
        self._transactions: list[Any] = []
        self._gone = ""

    @property
    def connection(self) -> psycopg.Connection[Any]:
        if self._connection is None:
            raise StoreError("the store is closed")
        return self._connection

    def execute(self, sql: str, parameters: Any = None, /) -> Cursor:
        with self._lost():
            return self.connection.execute(pyformat(sql), parameters or None)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        cursor = self.connection.cursor()
        rows = list(parameters)
        if rows:
            with self._lost():
                cursor.executemany(pyformat(sql), rows)
        return cursor

    @contextlib.contextmanager
    def _lost(self) -> Iterator[None]:
        """A connection that broke under a statement (the server restarted or ended it, the
        network went) is a StoreError naming the server and database; other errors pass."""
        import psycopg

        if self._gone:  # what follows a loss (a release in a finally) says the first reason
            raise StoreError(self._gone)
        try:
            yield
        except psycopg.OperationalError as error:
            if not self.connection.broken:
                raise
            self._gone = (
                f"{describe(str(self._pool.conninfo))}: lost the connection to PostgreSQL "
                f"({first_line(error)})"
            )
            raise StoreError(self._gone) from None

    def __enter__(self) -> PostgresDatabase:
        transaction = self.connection.transaction()
        with self._lost():
            transaction.__enter__()
        self._transactions.append(transaction)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        transaction = self._transactions.pop()
        if self._gone:
            return  # nothing to roll back on a connection that is gone
        with self._lost():
            transaction.__exit__(kind, error, tb)

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._pool.putconn(connection)


_pools: dict[tuple[str, int], psycopg_pool.ConnectionPool[Any]] = {}
_pools_lock = threading.Lock()


def connect_postgresql(url: str) -> PostgresDatabase:
    """A connection from this process's pool for ``url`` (made on first use)."""
    import psycopg
    import psycopg_pool

    pool = _pool(url)
    # A connection the server ended is replaced; the store reports the loss itself, once.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        connection = pool.getconn(timeout=CONNECT_TIMEOUT)
    except (psycopg_pool.PoolTimeout, psycopg.Error) as error:
        raise StoreError(f"{redact(url)}: cannot connect to PostgreSQL: {error}") from None
    return PostgresDatabase(pool, connection)


def _pool(url: str) -> psycopg_pool.ConnectionPool[Any]:
    import psycopg_pool

    key = (url, os.getpid())  # a forked child makes its own: connections do not cross a fork
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = psycopg_pool.ConnectionPool(
                url,
                min_size=1,
                max_size=_size,
                kwargs={"autocommit": True, "row_factory": _row_factory},
                # A connection the server dropped (a restart, say) is replaced, not handed out.
                check=psycopg_pool.ConnectionPool.check_connection,
                open=False,
                name="digest",
            )
            try:
                pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            except psycopg_pool.PoolTimeout as error:
                pool.close()
                raise StoreError(
                    f"{redact(url)}: cannot connect to PostgreSQL within "
                    f"{CONNECT_TIMEOUT:g}s: {error}"
                ) from None
            _pools[key] = pool
    return pool


def reserve_connections(count: int) -> None:
    """Let this process hold ``count`` PostgreSQL connections at once (never fewer than
    POOL_SIZE): what its threads may ask for together, such as a send's lanes, one per SMTP
    connection, beside a worker's other jobs. Otherwise the last to ask waits, then fails."""
    global _size
    with _pools_lock:
        if count <= _size:
            return
        _size = count
        for (_, pid), pool in _pools.items():
            if pid == os.getpid():
                pool.resize(pool.min_size, count)


_size = POOL_SIZE


def close_pools() -> None:
    """Close this process's pools (at exit; tests call it to end their connections)."""
    with _pools_lock:
        mine = [key for key in _pools if key[1] == os.getpid()]
        for key in mine:
            _pools.pop(key).close()


atexit.register(close_pools)


def describe(url: str) -> str:
    """Which server and database ``url`` names, for messages: 'PostgreSQL db at host:port'."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:  # unreadable: connecting will say what is wrong
        return redact(url)
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"PostgreSQL database {parts.get('dbname') or '(default)'} on {host}{port}"


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
