"""Database engines shared by every SQL-backed part (stores, modules, scheduler).

SQLite gets WAL journaling, ``synchronous=NORMAL`` (durable across process crashes; a power
loss may drop the last commits), a busy timeout so several processes can share one file,
and foreign keys. PostgreSQL connections are checked before use so a dropped connection is
replaced instead of failing the next statement.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import ConnectionPoolEntry

from loomwork.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 30_000


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


def is_sqlite(engine: sa.Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
