"""Service calls run their database work on the engine's worker thread, not on the loop.

The loop stays free while a call works; calls inside ``transaction()`` stay on the loop
(their connection is the block's); a cancelled caller's write still commits whole and
its events still reach the sink, from the loop's thread, as when calls ran inline.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from loomwork.db import create_engine
from loomwork.modules import Model

from .conftest import TABLES, ListSink, StatementLog
from .fixtures.brand import BrandModuleService, module


class ThreadSink(ListSink):
    """A sink that also remembers the thread each batch came from."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def emit(self, events: Any) -> None:
        self.threads.append(threading.get_ident())
        super().emit(events)


async def test_calls_run_on_a_worker_thread_and_events_reach_the_sink_on_the_loop(
    engine: sa.Engine, statement_log: StatementLog
) -> None:
    sink = ThreadSink()
    service = module.create_service(engine, event_sink=sink)
    assert isinstance(service, BrandModuleService)
    loop_thread = threading.get_ident()

    created = await service.create_brands([{"name": "a"}, {"name": "b"}])
    listed = await service.list_brands({"id": [row["id"] for row in created]})

    assert [row["name"] for row in listed] == ["a", "b"]
    assert statement_log.threads
    assert loop_thread not in statement_log.threads
    assert sink.threads == [loop_thread]
    assert [event.name for event in sink.events] == ["brand.created", "brand.created"]


async def test_calls_inside_a_transaction_block_stay_on_the_loop(
    service: BrandModuleService, statement_log: StatementLog, sink: ListSink
) -> None:
    async with service.transaction():
        created = await service.create_brands({"name": "inside"})
        found = await service.list_brands({"id": created["id"]})
    assert found == [created]
    assert statement_log.threads == {threading.get_ident()}
    assert [event.name for event in sink.events] == ["brand.created"]


async def test_the_loop_runs_other_tasks_while_a_call_works(service: BrandModuleService) -> None:
    released = threading.Event()

    def work(_conn: sa.Connection) -> bool:
        # Only the loop can set the flag: a call holding the loop would wait in vain.
        asyncio.run_coroutine_threadsafe(_set(released), loop)
        return released.wait(timeout=10)

    loop = asyncio.get_running_loop()
    assert await service._read_async(work)


async def _set(flag: threading.Event) -> None:
    flag.set()


async def test_a_cancelled_write_still_commits_whole_and_emits_its_events(
    service: BrandModuleService, sink: ListSink
) -> None:
    started, finish = threading.Event(), threading.Event()
    original = service._write_to

    def slow_write(*args: Any) -> Any:
        started.set()
        finish.wait(timeout=10)
        return original(*args)

    service._write_to = slow_write  # type: ignore[method-assign]
    task = asyncio.create_task(service.create_brands([{"name": f"b{i}"} for i in range(50)]))
    await asyncio.to_thread(started.wait, 10)
    task.cancel()
    await asyncio.sleep(0)
    finish.set()
    with pytest.raises(asyncio.CancelledError):
        await task

    del service._write_to
    assert len(await service.list_brands()) == 50
    assert len(sink.events) == 50


def test_an_in_memory_database_keeps_its_calls_on_the_loop() -> None:
    engine = create_engine("sqlite://")
    Model.metadata.create_all(engine, tables=TABLES)
    statement_log = StatementLog(engine)
    sink = ListSink()
    service = module.create_service(engine, event_sink=sink)
    assert isinstance(service, BrandModuleService)

    async def scenario() -> list[dict[str, Any]]:
        await service.create_brands({"name": "memory"})
        rows: list[dict[str, Any]] = await service.list_brands()
        return rows

    assert [row["name"] for row in asyncio.run(scenario())] == ["memory"]
    assert statement_log.threads == {threading.get_ident()}
    assert [event.name for event in sink.events] == ["brand.created"]
    engine.dispose()
