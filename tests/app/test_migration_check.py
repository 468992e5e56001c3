"""The start-up migration check: agrees with Alembic, and needs no Alembic when up to date."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

from loomwork.app import apply_migrations, load_project, pending_modules
from loomwork.modules import Module

SECOND_REVISION = '''"""add nothing"""

revision = "0000second"
down_revision = "8c28c82e0a01"


def upgrade():
    pass


def downgrade():
    pass
'''


def wishlist_copy(project_dir: Path, folder: Path) -> Module:
    """The scaffold's wishlist module with its migrations copied to ``folder``."""
    module = load_project(project_dir).module("wishlist")
    assert module.migrations is not None
    shutil.copytree(module.migrations, folder)
    return dataclasses.replace(module, migrations=folder)


def test_a_new_revision_is_pending_until_applied(project_dir: Path, tmp_path: Path) -> None:
    module = wishlist_copy(project_dir, tmp_path / "migrations")
    url = f"sqlite:///{tmp_path / 'check.sqlite'}"
    assert pending_modules([module], url) == ["wishlist"]
    assert apply_migrations([module], url) == ["wishlist"]
    assert pending_modules([module], url) == []
    (tmp_path / "migrations/versions/0000second_add_nothing.py").write_text(SECOND_REVISION)
    assert pending_modules([module], url) == ["wishlist"]
    assert apply_migrations([module], url) == ["wishlist"]
    assert pending_modules([module], url) == []


def test_a_revision_that_is_not_plain_data_is_left_to_alembic(
    project_dir: Path, tmp_path: Path
) -> None:
    module = wishlist_copy(project_dir, tmp_path / "migrations")
    url = f"sqlite:///{tmp_path / 'check.sqlite'}"
    computed = SECOND_REVISION.replace('revision = "0000second"', 'revision = "0000" + "second"')
    (tmp_path / "migrations/versions/0000second_add_nothing.py").write_text(computed)
    assert apply_migrations([module], url) == ["wishlist"]
    assert pending_modules([module], url) == []


CHECK = """
import sys
from loomwork.app import apply_migrations, load_project, pending_modules
modules = load_project(sys.argv[1]).modules
print(pending_modules(modules, sys.argv[2]), "alembic" in sys.modules)
"""


def test_checking_a_migrated_database_does_not_import_alembic(
    project_dir: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    assert apply_migrations(load_project(project_dir).modules, url) == ["wishlist"]
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(project_dir), url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["[]", "False"], done.stderr
