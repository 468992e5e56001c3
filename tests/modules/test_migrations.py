"""Per-module Alembic migrations: autogenerate scoped to the module, migrate SQLite and PG."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from loomwork.db import create_engine
from loomwork.errors import DefinitionError
from loomwork.modules import Module, generate_migration, migrate

from .fixtures.brand import BrandModuleService, module

EXPECTED_COLUMNS = {
    "fixture_brand": [
        "id",
        "name",
        "external_id",
        "rank",
        "created_at",
        "updated_at",
        "deleted_at",
    ],
    "fixture_category": ["id", "title", "brand_id", "created_at", "updated_at", "deleted_at"],
    "fixture_person": ["id", "name", "created_at", "updated_at", "deleted_at"],
}


def in_folder(folder: Path, source: Module = module) -> Module:
    return dataclasses.replace(source, migrations=folder)


def schema(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: [column["name"] for column in inspector.get_columns(table)]
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def test_generate_writes_a_revision_of_the_module_tables_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)")
    engine.dispose()
    target = in_folder(tmp_path / "migrations")
    path = generate_migration(target, url, "initial tables")
    assert path is not None
    assert path.parent == tmp_path / "migrations" / "versions"
    text = path.read_text()
    for table in EXPECTED_COLUMNS:
        assert (
            f"op.create_table(\n        '{table}'" in text or f"op.create_table('{table}'" in text
        )
    assert "someone_elses" not in text
    assert "loomwork" not in text
    assert "sa.DateTime(timezone=True)" in text
    migrate([target], url)
    assert generate_migration(target, url, "no change") is None
    assert len(list((tmp_path / "migrations" / "versions").glob("*.py"))) == 1


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_migrate_builds_the_tables_on_an_empty_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target = in_folder(tmp_path / "migrations")
    assert generate_migration(target, f"sqlite:///{tmp_path / 'dev.db'}", "initial") is not None
    url = (
        request.getfixturevalue("fresh_pg_url")
        if backend == "postgres"
        else f"sqlite:///{tmp_path / 'empty.db'}"
    )
    migrate([target], url)
    tables = schema(url)
    assert {table: tables[table] for table in EXPECTED_COLUMNS} == EXPECTED_COLUMNS
    assert set(tables) == {*EXPECTED_COLUMNS, "alembic_version_brand"}
    migrate([target], url)
    assert generate_migration(target, url, "no drift") is None


@pytest.mark.postgres
async def test_committed_migration_matches_the_models_and_serves(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    target = in_folder(tmp_path / "migrations")
    shutil.copytree(module.migrations or Path(), tmp_path / "migrations")
    for url in (f"sqlite:///{tmp_path / 'db.sqlite'}", fresh_pg_url):
        migrate([target], url)
        assert generate_migration(target, url, "drift") is None
        engine = create_engine(url)
        service = target.create_service(engine)
        assert isinstance(service, BrandModuleService)
        brand = await service.create_brands({"name": "Acme"})
        assert await service.list_brands() == [brand]
        engine.dispose()


def test_each_module_keeps_its_own_version_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    target = in_folder(tmp_path / "migrations")
    generate_migration(target, url, "initial")
    other = Module("audit", BrandModuleService, migrations=tmp_path / "none")
    assert other.version_table == "alembic_version_audit"
    migrate([target], url)
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version_brand").scalar()
    engine.dispose()
    assert list((tmp_path / "migrations" / "versions").glob(f"*_{version}_*.py"))
    assert "alembic_version" not in schema(url)


def test_missing_migrations_are_explained(tmp_path: Path) -> None:
    bare = dataclasses.replace(module, migrations=None)
    with pytest.raises(DefinitionError, match="no migrations folder"):
        generate_migration(bare, f"sqlite:///{tmp_path / 'db.sqlite'}", "x")
    empty = in_folder(tmp_path / "nothing-here")
    with pytest.raises(DefinitionError, match="loomwork db generate brand"):
        migrate([empty], f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate([bare], f"sqlite:///{tmp_path / 'db.sqlite'}")
