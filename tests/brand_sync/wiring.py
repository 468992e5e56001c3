"""The example app wired by hand, as the tests (and the crash worker process) build it.

This is what the project loader will build later: the brand module's service on SQLite
or PostgreSQL, a workflow engine with a SQL execution store, a local event bus with the
project's subscriber, and a logger, all in one container.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from loomwork.container import Container
from loomwork.db import create_engine
from loomwork.events import BusEventSink, LocalEventBus, Subscriber
from loomwork.workflows import WorkflowEngine
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore
from reference_brand_system import RunningServer

from .project import load, project

brand = load("modules.brand")


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


def project_subscriber() -> Subscriber:
    """The project's push subscriber, as the loader found it in ``src/subscribers``."""
    (subscriber,) = project().subscribers
    return subscriber


class SystemAddress(Protocol):
    """Where the brand system answers and its key (a ``RunningServer`` or a stand-in)."""

    @property
    def base_url(self) -> str: ...
    @property
    def api_key(self) -> str: ...


def app_options(system: SystemAddress, **overrides: Any) -> dict[str, Any]:
    """Brand module options for the test system: small pages, one request each, quick retries."""
    return {
        "base_url": system.base_url,
        "api_key": system.api_key,
        "page_size": 20,
        "batch_pages": 1,
        "backoff_base": 0.005,
        "backoff_cap": 0.02,
        "max_attempts": 6,
        "max_retry_after": 2.0,
        "full_sync_every": 0,
        **overrides,
    }


async def build_app(
    db_url: str,
    system: Any,
    *,
    table_prefix: str | None = None,
    lease_seconds: float = 30.0,
    **overrides: Any,
) -> App:
    """Wire the container by hand and start the bus."""
    engine = create_engine(db_url)
    container = Container()
    bus = LocalEventBus(container)
    sink = BusEventSink(bus)
    service = brand.module.create_service(
        engine, options=app_options(system, **overrides), event_sink=sink
    )
    prefix = table_prefix or f"wf_{secrets.token_hex(4)}_"
    store = SqlAlchemyStore(engine, table_prefix=prefix)
    workflows = WorkflowEngine(store, container=container, lease_seconds=lease_seconds)
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
