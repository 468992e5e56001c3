"""Fixtures: the reference brand system over real HTTP, and the example app wired by hand.

The app is what the project loader will build later: the brand module's service on
SQLite or PostgreSQL, a workflow engine with a SQL execution store, a local event bus
with the project's subscribers, and a logger, all in one container.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loomwork.container import Container
from loomwork.db import create_engine
from loomwork.events import BusEventSink, LocalEventBus, Subscriber
from loomwork.modules import migrate
from loomwork.workflows import WorkflowEngine
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore
from reference_brand_system import RunningServer, serve_in_thread

from .project import load, project

brand = load("modules.brand")
pull = load("workflows.sync_brands_from_system")
push = load("workflows.push_brand_to_system")

API_KEY = f"sk-live-{secrets.token_hex(12)}"
DATA_TABLES = ("brand", "brand_quarantine", "brand_sync_state")


@dataclass
class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements per table (an executemany counts once)."""

    statements: list[str] = field(default_factory=list)

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip().split(None, 1)[0].upper()
        if head in {"INSERT", "UPDATE", "DELETE"}:
            self.statements.append(statement)

    def on(self, *tables: str) -> list[str]:
        """The counted statements that write to any of ``tables``."""
        found = []
        for statement in self.statements:
            words = statement.replace('"', " ").replace("(", " ").split()
            target = words[2] if words[0].upper() in {"INSERT", "DELETE"} else words[1]
            if target in tables:
                found.append(statement)
        return found


@dataclass
class App:
    """The example app's parts, as a test drives them."""

    container: Container
    service: Any
    engine: sa.Engine
    workflows: WorkflowEngine
    store: SqlAlchemyStore
    bus: LocalEventBus
    sink: BusEventSink
    system: RunningServer

    async def settle(self) -> None:
        """Wait until every emitted event was delivered and its handlers finished."""
        for _ in range(10):
            await self.sink.flush()
            await self.bus.drain()
            await self.sink.flush()
            if not any(not task.done() for task in self.sink._tasks):
                return

    def count_writes(self) -> WriteCounter:
        """Start counting write statements on the app's database."""
        counter = WriteCounter()
        sa.event.listen(self.engine, "before_cursor_execute", counter)
        return counter

    def stop_counting(self, counter: WriteCounter) -> None:
        """Remove a counter installed by :meth:`count_writes`."""
        sa.event.remove(self.engine, "before_cursor_execute", counter)

    async def store_brands(self, *, with_deleted: bool = False) -> list[dict[str, Any]]:
        """Every brand in the store."""
        rows: list[dict[str, Any]] = await self.service.list_brands(with_deleted=with_deleted)
        return rows


@pytest.fixture
def brand_system() -> Iterator[RunningServer]:
    """The reference brand system on a free loopback port, empty."""
    with serve_in_thread(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def pg_migrated(pg_url: str) -> str:
    """The session PostgreSQL database with the brand module migrated."""
    migrate([brand.module], pg_url)
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty brand database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.sqlite'}"
        migrate([brand.module], url)
        return url
    url: str = request.getfixturevalue("pg_migrated")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table in DATA_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")
    finally:
        engine.dispose()
    return url


def project_subscriber() -> Subscriber:
    """The project's push subscriber, as the loader found it in ``src/subscribers``."""
    (subscriber,) = project().subscribers
    return subscriber


def app_options(system: RunningServer, **overrides: Any) -> dict[str, Any]:
    """Brand module options for the test system: small pages, quick retries."""
    return {
        "base_url": system.base_url,
        "api_key": system.api_key,
        "page_size": 20,
        "backoff_base": 0.005,
        "backoff_cap": 0.02,
        "max_attempts": 6,
        "max_retry_after": 2.0,
        "full_sync_every": 0,
        **overrides,
    }


async def build_app(db_url: str, system: RunningServer, **overrides: Any) -> App:
    """Wire the container by hand and start the bus."""
    engine = create_engine(db_url)
    container = Container()
    bus = LocalEventBus(container)
    sink = BusEventSink(bus)
    service = brand.module.create_service(
        engine, options=app_options(system, **overrides), event_sink=sink
    )
    store = SqlAlchemyStore(engine, table_prefix=f"wf_{secrets.token_hex(4)}_")
    workflows = WorkflowEngine(store, container=container)
    container.register(brand.BRAND_MODULE, service)
    container.register("logger", logging.getLogger("brand_sync.app"))
    bus.subscribe(project_subscriber())
    await bus.start()
    return App(container, service, engine, workflows, store, bus, sink, system)


async def close_app(app: App) -> None:
    """Stop everything the app started, in order."""
    await app.settle()
    await app.bus.stop()
    await app.workflows.close()
    await app.store.close()
    app.store.tables.metadata.drop_all(app.engine)
    await app.service.aclose()
    app.engine.dispose()


@pytest.fixture
async def app(db_url: str, brand_system: RunningServer) -> AsyncIterator[App]:
    """The example app on ``db_url`` talking to ``brand_system``."""
    built = await build_app(db_url, brand_system)
    try:
        yield built
    finally:
        await close_app(built)
