"""The SQLAlchemy store on a SQLite file passes the contract and keeps SQLite durable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_contract import WF, StoreContract, create, make_run, make_step

from loomwork.db import create_engine
from loomwork.workflows.stores import ExecutionStore
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


class TestSqliteStore(StoreContract):
    @pytest.fixture
    async def store(self, sqlite_url: str) -> AsyncIterator[ExecutionStore]:
        store = SqlAlchemyStore(sqlite_url)
        yield store
        await store.close()


async def test_runs_survive_a_new_store_on_the_same_file(sqlite_url: str) -> None:
    first = SqlAlchemyStore(sqlite_url)
    await create(first, make_run())
    await first.save_step(WF, "tx-1", make_step())
    await first.close()
    second = SqlAlchemyStore(sqlite_url)
    try:
        loaded = await second.load_run(WF, "tx-1")
        assert loaded is not None
        assert loaded.steps == {"reserve": make_step()}
    finally:
        await second.close()


async def test_connections_use_wal_and_normal_sync(sqlite_url: str) -> None:
    store = SqlAlchemyStore(sqlite_url)
    try:
        await create(store, make_run())
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        await store.close()


async def test_tables_are_prefixed_and_creation_is_idempotent(sqlite_url: str) -> None:
    store = SqlAlchemyStore(sqlite_url, table_prefix="shop_")
    try:
        store.create_tables()
        store.create_tables()
        await create(store, make_run())
        names = set(sa.inspect(store.engine).get_table_names())
        assert {"shop_runs", "shop_steps"} <= names
        assert not any(name.startswith("loomwork_") for name in names)
    finally:
        await store.close()


async def test_a_borrowed_engine_stays_open_after_close(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        store = SqlAlchemyStore(engine)
        await create(store, make_run())
        await store.close()
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM loomwork_runs").scalar()
        assert count == 1
    finally:
        engine.dispose()


BIG = (
    '{"brands": ['
    + ",".join(f'{{"id": "b{i}", "name": "Brand ☕ {i}"}}' for i in range(3000))
    + "]}"
)


def stored_types(store: SqlAlchemyStore) -> dict[str, tuple[str, int]]:
    """Each payload column of the one step row: its SQLite type and stored length."""
    columns = ("output_json", "compensate_input_json", "events_json", "error_json")
    select = ", ".join(f"typeof({name}), length(CAST({name} AS BLOB))" for name in columns)
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT {select} FROM loomwork_steps").one()
    return {name: (row[2 * i], row[2 * i + 1]) for i, name in enumerate(columns)}


async def test_large_step_payloads_are_stored_compressed(sqlite_url: str) -> None:
    store = SqlAlchemyStore(sqlite_url)
    try:
        await create(store, make_run())
        step = make_step(output_json=BIG, events_json=BIG[::-1], error_json=BIG)
        await store.save_step(WF, "tx-1", step)
        stored = stored_types(store)
        loaded = await store.load_run(WF, "tx-1")
    finally:
        await store.close()
    assert loaded is not None
    assert loaded.steps["reserve"] == step
    for name in ("output_json", "events_json"):
        kind, size = stored[name]
        assert kind == "blob"
        assert size < len(BIG.encode()) / 5
    # Small payloads, and columns that are never packed, stay text.
    assert stored["compensate_input_json"][0] == "text"
    assert stored["error_json"][0] == "text"


async def test_steps_saved_with_their_run_are_compressed_too(sqlite_url: str) -> None:
    store = SqlAlchemyStore(sqlite_url)
    try:
        run = make_run()
        await create(store, run)
        step = make_step(output_json=BIG)
        await store.save_run(run, steps=[step])
        stored = stored_types(store)
        loaded = await store.load_run(WF, "tx-1")
    finally:
        await store.close()
    assert stored["output_json"][0] == "blob"
    assert loaded is not None
    assert loaded.steps["reserve"] == step


async def test_payloads_stored_as_text_before_compression_still_load(sqlite_url: str) -> None:
    store = SqlAlchemyStore(sqlite_url)
    try:
        await create(store, make_run())
        await store.save_step(WF, "tx-1", make_step())
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE loomwork_steps SET output_json = ?", (BIG,))
        assert stored_types(store)["output_json"][0] == "text"
        loaded = await store.load_run(WF, "tx-1")
    finally:
        await store.close()
    assert loaded is not None
    assert loaded.steps["reserve"].output_json == BIG
