"""The background loop: it fires on time, survives store errors, and stops cleanly."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from loomwork.container import Container
from loomwork.errors import ConflictError
from loomwork.scheduler import ManualClock, RunOutcome, Scheduler
from loomwork.scheduler._execution import CANCELLED_ERROR
from loomwork.scheduler.stores import MemoryScheduleStore

from .helpers import FlakyStore, at, until

EVERY_10S = {"name": "tick", "schedule": "*/10 * * * * *"}


async def step(clock: ManualClock, seconds: float) -> None:
    """Let the loop park, then move time on."""
    await clock.wait_for_sleepers(1)
    clock.advance(seconds)


async def settle(scheduler: Scheduler, clock: ManualClock) -> None:
    """Wait until the loop is parked again and no run is in flight."""
    await clock.wait_for_sleepers(1)
    while scheduler._tasks:  # the runs the loop started
        await asyncio.gather(*scheduler._tasks)
        await clock.wait_for_sleepers(1)


async def test_the_loop_fires_each_tick(caplog: pytest.LogCaptureFixture) -> None:
    clock, store = ManualClock(at("2026-01-01 12:00:01")), MemoryScheduleStore()
    fired: list[str] = []

    async def handler(container: Container) -> None:
        fired.append(clock.now().strftime("%S"))

    scheduler = Scheduler(store, clock, Container(), "a")
    scheduler.add_job(handler, EVERY_10S)
    await scheduler.start()
    assert scheduler.running
    with pytest.raises(ConflictError, match="already started"):
        await scheduler.start()
    for _ in range(3):
        await step(clock, 10)
        await settle(scheduler, clock)
    await scheduler.stop()
    assert not scheduler.running
    assert fired == ["11", "21", "31"]
    assert [run.fire_time.second for run in await store.list_runs("tick")] == [30, 20, 10]


async def test_the_loop_survives_store_errors_and_catches_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, store = ManualClock(at("2026-01-01 12:00:01")), FlakyStore()
    fired: list[str] = []

    async def handler(container: Container) -> None:
        fired.append(clock.now().isoformat())

    scheduler = Scheduler(store, clock, Container(), "a", max_backoff=4)
    scheduler.add_job(handler, EVERY_10S)
    store.failures = 6  # the database is down from the start
    with caplog.at_level(logging.ERROR, logger="loomwork.scheduler"):
        await scheduler.start()
        for _ in range(20):
            await step(clock, 4)
            await settle(scheduler, clock)
            if fired:
                break
    assert scheduler.running
    assert store.raised == 6
    errors = [record for record in caplog.records if "store error" in record.getMessage()]
    assert len(errors) == 6
    assert "6 in a row" in errors[-1].getMessage()
    assert "database unreachable" in (errors[0].exc_text or "")
    # Ticks passed while the store was down: they coalesce into one run.
    runs = await store.list_runs("tick")
    assert [run.outcome for run in runs] == [RunOutcome.SUCCEEDED]
    assert len(fired) == 1
    for _ in range(2):
        await step(clock, 10)
        await settle(scheduler, clock)
    assert len(await store.list_runs("tick")) == 3
    await scheduler.stop()


async def test_stop_waits_for_running_handlers() -> None:
    clock, store = ManualClock(at("2026-01-01 12:00:01")), MemoryScheduleStore()
    release, entered = asyncio.Event(), asyncio.Event()

    async def handler(container: Container) -> None:
        entered.set()
        await release.wait()

    scheduler = Scheduler(store, clock, Container(), "a")
    scheduler.add_job(handler, EVERY_10S)
    await scheduler.start()
    await step(clock, 10)
    await entered.wait()
    stopping = asyncio.create_task(scheduler.stop(grace=60))
    await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await stopping
    [run] = await store.list_runs("tick")
    assert run.outcome is RunOutcome.SUCCEEDED


async def test_stop_cancels_handlers_after_the_grace_period() -> None:
    clock, store = ManualClock(at("2026-01-01 12:00:01")), MemoryScheduleStore()
    entered = asyncio.Event()

    async def handler(container: Container) -> None:
        entered.set()
        await asyncio.Event().wait()

    scheduler = Scheduler(store, clock, Container(), "a", stop_grace=timedelta(seconds=30))
    scheduler.add_job(handler, EVERY_10S)
    await scheduler.start()
    await step(clock, 10)
    await entered.wait()
    stopping = asyncio.create_task(scheduler.stop())
    await until(lambda: not scheduler.running)  # the loop ends first ...
    await clock.wait_for_sleepers(2)  # ... then stop() waits: its deadline and the heartbeat
    clock.advance(30)
    await stopping
    [run] = await store.list_runs("tick")
    assert (run.outcome, run.error) == (RunOutcome.FAILED, CANCELLED_ERROR)


async def test_a_job_added_while_running_is_picked_up() -> None:
    clock, store = ManualClock(at("2026-01-01 12:00:01")), MemoryScheduleStore()
    fired: list[str] = []

    async def handler(container: Container) -> None:
        fired.append("x")

    async with Scheduler(store, clock, Container(), "a") as scheduler:
        await clock.wait_for_sleepers(1)
        assert clock.deadlines == [at("2026-01-01 12:01:01")]  # idle: no jobs
        scheduler.add_job(handler, EVERY_10S)
        await until(lambda: clock.deadlines == [at("2026-01-01 12:00:10")])
        clock.advance(9)
        await settle(scheduler, clock)
    assert fired == ["x"]
