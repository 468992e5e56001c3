"""Alembic migrations per module, driven through Alembic's API (no ``alembic.ini``).

Each module's ``migrations/`` folder holds a two-line ``env.py`` that calls back into
:func:`run_environment`, a revision template and ``versions/``. Autogenerate only sees the
module's own tables, and each module records its revision in ``alembic_version_<key>``,
so modules sharing a database never touch each other's tables or history. Revisions are
rendered in batch mode with portable types, so one file migrates SQLite and PostgreSQL
alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from loomwork.db import create_engine
from loomwork.errors import DefinitionError
from loomwork.modules._model import Model, UtcDateTime
from loomwork.modules._module import Module

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

# Alembic is imported inside the functions that use it: it costs about 0.1 s, and most
# processes (the CLI's help, a worker whose database is migrated) never need it.

_ENV = '''"""Alembic environment of this module: loomwork passes the connection and settings."""

from loomwork.modules._migrations import run_environment

run_environment()
'''

_TEMPLATE = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''


def generate_migration(module: Module, engine_url: str | sa.URL, message: str) -> Path | None:
    """Autogenerate a revision of ``module``'s tables against the database at ``engine_url``.

    The database must be at the module's head (run :func:`migrate` first). Writes
    ``<migrations>/versions/<rev>_<slug>.py`` and returns its path, or ``None`` when the
    models match the database and there is nothing to write.
    """
    from alembic import command
    from alembic.script import Script

    folder = _folder(module)
    _scaffold(folder)
    engine = create_engine(engine_url)
    try:
        with engine.begin() as connection:
            result = command.revision(
                _config(module, folder, connection),
                message,
                autogenerate=True,
                process_revision_directives=_skip_empty,
            )
    finally:
        engine.dispose()
    scripts = result if isinstance(result, list) else [result]
    paths = [Path(script.path) for script in scripts if isinstance(script, Script)]
    return paths[0] if paths else None


def migrate(modules: Iterable[Module], engine_url: str | sa.URL) -> None:
    """Upgrade every module with migrations to its head, each in its own transaction."""
    from alembic import command

    engine = create_engine(engine_url)
    try:
        for module in modules:
            if module.migrations is None:
                continue
            folder = _folder(module)
            if not (folder / "env.py").is_file():
                raise DefinitionError(
                    f"module {module.key!r} has no migrations in {folder}; generate them first "
                    f"(loomwork db generate {module.key})"
                )
            with engine.begin() as connection:
                command.upgrade(_config(module, folder, connection), "heads")
    finally:
        engine.dispose()


def run_environment() -> None:
    """Body of every module's ``env.py``: configure Alembic from loomwork's settings."""
    from alembic import context

    module: Module = context.config.attributes["module"]
    tables = set(module.tables)

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in tables

    def include_object(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table is None or table in tables

    context.configure(
        connection=context.config.attributes["connection"],
        target_metadata=Model.metadata,
        version_table=module.version_table,
        include_name=include_name,
        include_object=include_object,
        render_as_batch=True,
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(type_: str, obj: Any, _context: Any) -> str | Literal[False]:
    # Revisions must not import loomwork types: render the portable storage type instead.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _skip_empty(_context: MigrationContext, _revision: Any, directives: list[Any]) -> None:
    from alembic.operations.ops import MigrationScript

    script = directives[0] if directives else None
    if isinstance(script, MigrationScript) and all(
        ops.is_empty() for ops in script.upgrade_ops_list
    ):
        directives.clear()


def _config(module: Module, folder: Path, connection: sa.Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["module"] = module
    config.attributes["connection"] = connection
    return config


def _folder(module: Module) -> Path:
    if module.migrations is None:
        raise DefinitionError(
            f"module {module.key!r} declares no migrations folder; set "
            "Module(migrations=Path(__file__).parent / 'migrations')"
        )
    return Path(module.migrations)


def _scaffold(folder: Path) -> None:
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    for name, text in (("env.py", _ENV), ("script.py.mako", _TEMPLATE)):
        path = folder / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")
