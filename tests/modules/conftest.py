"""Fixtures for the module tests: the example brand module on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loomwork.db import create_engine
from loomwork.events import Event
from loomwork.modules import Model

from .fixtures.brand import BrandModuleService, module

TABLES = [Model.metadata.tables[name] for name in module.tables]


class ListSink:
    """An event sink that remembers every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []

    def emit(self, events: Sequence[Event]) -> None:
        self.batches.append(list(events))

    @property
    def events(self) -> list[Event]:
        return [event for batch in self.batches for event in batch]

    def names_and_ids(self) -> list[tuple[str, str]]:
        return [(event.name, event.data["id"]) for event in self.events]


class StatementLog:
    """Statements sent to the driver and the threads that sent them (executemany: once)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.entries: list[tuple[int, str]] = []
        sa.event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.entries.append((threading.get_ident(), statement))

    @property
    def statements(self) -> list[str]:
        """The statements, transaction control and pragmas left out."""
        return [
            statement
            for _, statement in self.entries
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "PRAGMA"))
        ]

    @property
    def threads(self) -> set[int]:
        """The idents of the threads that sent any statement."""
        return {thread for thread, _ in self.entries}

    def reset(self) -> None:
        self.entries.clear()

    def remove(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)


@pytest.fixture
def statement_log(engine: sa.Engine) -> Iterator[StatementLog]:
    """Every statement the engine sends while the test runs."""
    log = StatementLog(engine)
    yield log
    log.remove()


@pytest.fixture(scope="session")
def pg_tables(pg_url: str) -> str:
    """The session PostgreSQL database with the example module's tables."""
    engine = create_engine(pg_url)
    try:
        Model.metadata.create_all(engine, tables=TABLES)
    finally:
        engine.dispose()
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on empty example-module tables, on each backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'modules.db'}")
        Model.metadata.create_all(engine, tables=TABLES)
    else:
        engine = create_engine(request.getfixturevalue("pg_tables"))
        with engine.begin() as conn:
            for table in reversed(TABLES):
                conn.execute(table.delete())
    yield engine
    engine.dispose()


@pytest.fixture
def sink() -> ListSink:
    """Collects the events the service emits."""
    return ListSink()


@pytest.fixture
def service(engine: sa.Engine, sink: ListSink) -> BrandModuleService:
    """The example module's service on ``engine``, emitting into ``sink``."""
    created = module.create_service(engine, event_sink=sink)
    assert isinstance(created, BrandModuleService)
    return created
