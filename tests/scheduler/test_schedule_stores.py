"""The schedule-store contract over the memory store, SQLite (a file) and PostgreSQL."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loomwork.errors import ConfigurationError
from loomwork.scheduler.stores import MemoryScheduleStore, ScheduleStore
from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore

from .store_contract import ScheduleStoreContract


class TestMemoryStore(ScheduleStoreContract):
    @pytest.fixture
    def store(self) -> ScheduleStore:
        return MemoryScheduleStore()


class TestSqliteStore(ScheduleStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[ScheduleStore]:
        store = SqlAlchemyScheduleStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
        yield store
        await store.close()


@pytest.mark.postgres
class TestPostgresStore(ScheduleStoreContract):
    @pytest.fixture
    async def store(self, pg_url: str) -> AsyncIterator[ScheduleStore]:
        store = SqlAlchemyScheduleStore(pg_url, table_prefix=f"t{secrets.token_hex(4)}_")
        yield store
        store.table.metadata.drop_all(store.engine)  # type: ignore[union-attr]
        await store.close()


def test_other_databases_are_refused() -> None:
    # The engine is never connected, so any importable module can stand in for the driver.
    engine = sa.create_engine("mysql+pymysql://nobody@127.0.0.1/none", module=sqlite3)
    with pytest.raises(ConfigurationError, match="sqlite and postgresql, not mysql"):
        SqlAlchemyScheduleStore(engine)
    engine.dispose()
