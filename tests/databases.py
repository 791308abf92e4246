"""Test databases: a PostgreSQL database of the test run's own, dropped at its end.

Each run creates ``digest_test_<random>`` on 127.0.0.1:5432 (trust authentication, connecting
through the database ``test``); each test that asks for it starts from an empty schema. Where no
PostgreSQL answers, those tests skip and say why, except under CI=true, where that fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SERVER = "postgresql://postgres@127.0.0.1:5432"
MAINTENANCE = f"{SERVER}/test"


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, uniquely named database; dropped afterwards (connections and all)."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(MAINTENANCE, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = f"no PostgreSQL answers at {MAINTENANCE}: {' '.join(str(error).split())}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: .ci/run starts it)", pytrace=False)
        pytest.skip(reason)
    name = f"digest_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{SERVER}/{name}"
        finally:
            from digest.store.engine import close_pools

            close_pools()
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def empty_schema(url: str) -> None:
    """Drop everything the last test left in the database, and this process's connections to it.

    A pooled connection keeps the statements it prepared; once the schema is made again its
    collation ``nocase`` has another OID, and PostgreSQL refuses a prepared ``SELECT *`` of a
    table using it ("cached plan must not change result type").
    """
    import psycopg

    from digest.store.engine import close_pools

    close_pools()

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
