"""The start-up migration check.

Policy: with ``database.auto_migrate`` (the default on SQLite) start-up applies pending
module migrations itself, under a lock so that several processes starting together
migrate once (a lock file next to the SQLite file; an advisory lock on PostgreSQL).
Without it (the default on PostgreSQL, where deployments usually migrate as a release
step) start-up refuses to run on a database whose migrations are behind and says to run
``loomwork db migrate``.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from loomwork.app._config import AppConfig
from loomwork.db import create_engine
from loomwork.errors import ConfigurationError
from loomwork.modules import Module, migrate

__all__ = ["apply_migrations", "ensure_migrated", "pending_modules"]

_ADVISORY_KEY = 0x6C6F6F6D  # "loom"


def _migratable(modules: Sequence[Module]) -> list[Module]:
    return [module for module in modules if module.migrations is not None]


def pending_modules(modules: Sequence[Module], url: str) -> list[str]:
    """Keys of the modules whose database revision is not their migrations' head."""
    if not _migratable(modules):
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [
                module.key
                for module in _migratable(modules)
                if _current(connection, module) != _heads(module)
            ]
    finally:
        engine.dispose()


def _heads(module: Module) -> set[str]:
    folder = Path(module.migrations or "")
    if not (folder / "versions").is_dir():
        return set()
    return set(ScriptDirectory(str(folder)).get_heads())


def _current(connection: sa.Connection, module: Module) -> set[str]:
    context = MigrationContext.configure(connection, opts={"version_table": module.version_table})
    return set(context.get_current_heads())


def apply_migrations(modules: Sequence[Module], url: str) -> list[str]:
    """Migrate every module to its head under the start-up lock; returns the keys migrated."""
    pending = pending_modules(modules, url)
    if not pending:
        return []
    with _lock(url):
        migrate(_migratable(modules), url)
    return pending


def ensure_migrated(modules: Sequence[Module], config: AppConfig) -> list[str]:
    """Apply (``auto_migrate``) or check the migrations before start-up; see the module doc."""
    url = config.database.url
    if config.auto_migrate:
        return apply_migrations(modules, url)
    pending = pending_modules(modules, url)
    if pending:
        raise ConfigurationError(
            "database.url",
            f"migrations of module(s) {', '.join(pending)} are not applied; run "
            "'loomwork db migrate' first (or set [database] auto_migrate = true)",
        )
    return []


@contextmanager
def _lock(url: str) -> Iterator[None]:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            yield
            return
        path = Path(database).with_name(Path(database).name + ".migrate-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
            try:
                yield
            finally:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY}
                )
    finally:
        engine.dispose()
