"""Database engines shared by every SQL-backed part (stores, modules, scheduler).

SQLite gets WAL journaling, ``synchronous=NORMAL`` (durable across process crashes; a power
loss may drop the last commits), a busy timeout so several processes can share one file,
foreign keys, and a page cache of 32 MiB per connection, filled only as pages are read
(with SQLite's own 2 MiB, the example's re-sync of 300,000 brands took 15% longer: its
lookups read index pages from the operating system again). PostgreSQL connections are
checked before use so a dropped connection is replaced instead of failing the next
statement.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.schema import CreateIndex, CreateTable

from loomwork.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 32 * 1024
_DDL_ATTEMPTS = 3
_WAL_RETRY_PAUSE_S = 0.005


def create_engine(url: str | sa.URL, **options: Any) -> sa.Engine:
    """Create a SQLAlchemy engine with loomwork's settings for the URL's database."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, **options)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    options.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **options)


def engine_for(
    url_or_engine: str | sa.URL | sa.Engine, *, supported: tuple[str, ...], what: str
) -> tuple[sa.Engine, bool]:
    """The engine for a store given a URL (created here) or an engine (the caller's).

    Returns the engine and whether the caller must dispose it. A database other than the
    ``supported`` dialects is a :class:`ConfigurationError` naming ``what`` needs them.
    """
    if isinstance(url_or_engine, sa.Engine):
        engine, owned = url_or_engine, False
    else:
        engine, owned = create_engine(url_or_engine), True
    if engine.dialect.name not in supported:
        if owned:
            engine.dispose()
        raise ConfigurationError(
            "url", f"{what} supports {' and '.join(supported)}, not {engine.dialect.name}"
        )
    return engine, owned


def create_missing_tables(metadata: sa.MetaData, engine: sa.Engine) -> None:
    """Create the tables and indexes of ``metadata`` that do not exist yet.

    When all exist (every start but the first) this only reads the catalog: no DDL, whose
    locks on PostgreSQL would wait for the tables' open transactions. Safe when several
    processes (or threads) create at once on one database: every statement is ``IF NOT
    EXISTS``, so nobody fails on what another just created. PostgreSQL can still refuse
    two simultaneous creations of one table (a unique violation in its catalog); the next
    pass then finds the table and creates nothing.
    """
    if _all_exist(metadata, engine):
        return
    for attempt in range(1, _DDL_ATTEMPTS + 1):
        try:
            with engine.begin() as connection:
                for table in metadata.sorted_tables:
                    connection.execute(CreateTable(table, if_not_exists=True))
                    for index in sorted(table.indexes, key=lambda index: str(index.name)):
                        connection.execute(CreateIndex(index, if_not_exists=True))
        except sa.exc.DBAPIError:
            if attempt == _DDL_ATTEMPTS:
                raise
        else:
            return


def _all_exist(metadata: sa.MetaData, engine: sa.Engine) -> bool:
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name, schema=table.schema):
            return False
        present = {index["name"] for index in inspector.get_indexes(table.name, table.schema)}
        if any(index.name not in present for index in table.indexes):
            return False
    return True


def is_sqlite(engine: sa.Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    # Switching a fresh file to WAL needs it to itself, and SQLite answers "locked" at once,
    # without waiting on the busy timeout, while another connection is doing the same.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_PAUSE_S)
        else:
            return
