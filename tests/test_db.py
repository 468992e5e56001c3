"""Shared engine setup: several processes (here, threads with their own engines) may open
and set up one database at the same moment, and none of them may fail for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from loomwork.db import SQLITE_CACHE_KIB, create_engine, create_missing_tables

RACERS = 4


def schema() -> sa.MetaData:
    metadata = sa.MetaData()
    parent = sa.Table("parent", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "child",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.ForeignKey(parent.c.id), index=True),
        sa.Column("name", sa.String(20)),
    )
    return metadata


def race(work: Callable[[], None]) -> list[BaseException]:
    """Run ``work`` in RACERS threads released together; the errors they raised."""
    start = threading.Barrier(RACERS)
    errors: list[BaseException] = []

    def racer() -> None:
        start.wait()
        try:
            work()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def tables_and_indexes(engine: sa.Engine) -> tuple[list[str], list[str]]:
    inspector = sa.inspect(engine)
    names = sorted(inspector.get_table_names())
    indexes = sorted(str(index["name"]) for index in inspector.get_indexes("child"))
    return names, indexes


@pytest.mark.parametrize("attempt", range(15))
def test_engines_opening_a_new_sqlite_file_together_all_get_wal(
    tmp_path: Path, attempt: int
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    modes: list[str] = []

    def open_and_ask() -> None:
        engine = create_engine(url)
        with engine.connect() as connection:
            modes.append(connection.exec_driver_sql("PRAGMA journal_mode").scalar_one())
        engine.dispose()

    assert race(open_and_ask) == []
    assert modes == ["wal"] * RACERS


@pytest.mark.parametrize("attempt", range(15))
def test_racing_setups_of_one_sqlite_file_all_succeed(tmp_path: Path, attempt: int) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    metadata = schema()

    def set_up() -> None:
        engine = create_engine(url)
        create_missing_tables(metadata, engine)
        engine.dispose()

    assert race(set_up) == []
    engine = create_engine(url)
    assert tables_and_indexes(engine) == (["child", "parent"], ["ix_child_parent_id"])
    engine.dispose()


@pytest.mark.parametrize("attempt", range(5))
def test_racing_setups_of_one_postgres_database_all_succeed(
    fresh_pg_url: str, attempt: int
) -> None:
    metadata = schema()
    engines = [create_engine(fresh_pg_url) for _ in range(RACERS)]
    turn = iter(engines)
    lock = threading.Lock()

    def set_up() -> None:
        with lock:
            engine = next(turn)
        create_missing_tables(metadata, engine)

    assert race(set_up) == []
    assert tables_and_indexes(engines[0]) == (["child", "parent"], ["ix_child_parent_id"])
    for engine in engines:
        engine.dispose()


def test_setting_up_twice_keeps_the_rows(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'again.sqlite'}")
    metadata = schema()
    create_missing_tables(metadata, engine)
    with engine.begin() as connection:
        connection.execute(metadata.tables["parent"].insert(), [{"id": 1}, {"id": 2}])
    create_missing_tables(metadata, engine)
    with engine.connect() as connection:
        rows = sa.select(sa.func.count()).select_from(metadata.tables["parent"])
        assert connection.execute(rows).scalar_one() == 2
    engine.dispose()


def test_a_failure_other_than_a_race_is_raised(tmp_path: Path) -> None:
    path = tmp_path / "read-only.sqlite"
    sa.create_engine(f"sqlite:///{path}").dispose()
    path.touch()
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        create_missing_tables(schema(), engine)
    engine.dispose()


def test_sqlite_connections_get_wal_and_a_larger_page_cache(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'settings.sqlite'}")
    with engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar_one() == "wal"
        assert pragma("PRAGMA cache_size").scalar_one() == -SQLITE_CACHE_KIB
        assert pragma("PRAGMA foreign_keys").scalar_one() == 1
    engine.dispose()


def test_setting_up_a_complete_database_runs_no_ddl(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'complete.sqlite'}")
    metadata = schema()
    create_missing_tables(metadata, engine)
    statements: list[str] = []
    sa.event.listen(
        engine, "before_cursor_execute", lambda *args: statements.append(args[2].lstrip())
    )

    create_missing_tables(metadata, engine)

    assert statements  # the catalog was read
    assert not [sql for sql in statements if sql.upper().startswith("CREATE")]
    engine.dispose()


def test_an_index_added_to_an_existing_table_is_created(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'older.sqlite'}")
    older = schema()
    older.tables["child"].indexes.clear()
    create_missing_tables(older, engine)

    create_missing_tables(schema(), engine)

    assert tables_and_indexes(engine) == (["child", "parent"], ["ix_child_parent_id"])
    engine.dispose()
