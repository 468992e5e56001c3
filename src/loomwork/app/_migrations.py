"""The start-up migration check.

Policy: with ``database.auto_migrate`` (the default on SQLite) start-up applies pending
module migrations itself, under a lock so that several processes starting together
migrate once (a lock file next to the SQLite file; an advisory lock on PostgreSQL).
Without it (the default on PostgreSQL, where deployments usually migrate as a release
step) start-up refuses to run on a database whose migrations are behind and says to run
``loomwork db migrate``.

The check itself does not import Alembic (about 0.1 s of start-up): it reads each module's
version table with SQL and the revision ids of its ``versions/*.py`` files with ``ast``.
Only when those disagree, or a file is not a plain revision, does Alembic decide.
"""

from __future__ import annotations

import ast
import fcntl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

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
                module.key for module in _migratable(modules) if not _is_current(connection, module)
            ]
    finally:
        engine.dispose()


def _is_current(connection: sa.Connection, module: Module) -> bool:
    folder = Path(module.migrations or "")
    current = _current(connection, module)
    if not (folder / "versions").is_dir():
        return not current
    if _declared_heads(folder / "versions") == current:
        return True
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory(str(folder)).get_heads()) == current


def _declared_heads(versions: Path) -> set[str] | None:
    """Heads from the files' literal ``revision``/``down_revision``; None when unsure."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        if path.name == "__init__.py":
            continue
        names = _literal_assignments(path)
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(parent) for parent in down)
        elif down is not None:
            return None
    if not parents <= revisions:
        return None
    return revisions - parents


def _literal_assignments(path: Path) -> dict[str, object]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[str, object] = {}
    for node in tree.body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                found[target.id] = ...
    return found


def _current(connection: sa.Connection, module: Module) -> set[str]:
    table = module.version_table
    if not sa.inspect(connection).has_table(table):
        return set()
    query: sa.Select[Any] = sa.select(sa.column("version_num")).select_from(sa.table(table))
    return {str(value) for value in connection.execute(query).scalars()}


def apply_migrations(
    modules: Sequence[Module], url: str, on_migrated: Callable[[str], None] | None = None
) -> list[str]:
    """Migrate every module to its head under the start-up lock; returns the keys migrated.

    ``on_migrated(key)`` is called after each module (the CLI's progress bar uses it).
    """
    pending = pending_modules(modules, url)
    if not pending:
        return []
    with _lock(url):
        for module in _migratable(modules):
            if module.key in pending:
                migrate([module], url)
                if on_migrated is not None:
                    on_migrated(module.key)
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
