"""Scheduler behaviour with an injected clock: ticks, instances, catch-up, overlap, limits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loomwork.container import Container
from loomwork.errors import DefinitionError, NotFoundError
from loomwork.scheduler import (
    JobAlreadyRunningError,
    JobRun,
    ManualClock,
    RunOutcome,
    Scheduler,
    current_run,
)
from loomwork.scheduler.stores import MemoryScheduleStore, ScheduleStore
from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore

from .helpers import at

EVERY_MINUTE = {"name": "tick", "schedule": "* * * * *"}


class Calls:
    """A handler that counts its calls and remembers the tick of each."""

    def __init__(self) -> None:
        self.ticks: list[JobRun] = []

    async def __call__(self, container: Container) -> None:
        self.ticks.append(current_run())


def summary(runs: list[JobRun]) -> list[tuple[str, str]]:
    return [(run.fire_time.strftime("%H:%M:%S"), run.outcome.value) for run in runs]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at("2026-01-01 11:59:30"))


@pytest.fixture
def store() -> MemoryScheduleStore:
    return MemoryScheduleStore()


def make(store: ScheduleStore, clock: ManualClock, name: str = "a", **options: Any) -> Scheduler:
    return Scheduler(store, clock, Container({"logger": "log"}), name, **options)


async def test_each_tick_runs_once_and_only_when_due(
    store: ScheduleStore, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler = make(store, clock)
    scheduler.add_job(calls, EVERY_MINUTE)
    assert await scheduler.run_pending() == []
    clock.set(at("2026-01-01 12:00:00"))
    assert summary(await scheduler.run_pending()) == [("12:00:00", "succeeded")]
    assert await scheduler.run_pending() == []
    clock.set(at("2026-01-01 12:00:59"))
    assert await scheduler.run_pending() == []
    clock.set(at("2026-01-01 12:01:00.004"))
    assert summary(await scheduler.run_pending()) == [("12:01:00", "succeeded")]
    assert [run.fire_time for run in calls.ticks] == [
        at("2026-01-01 12:00"),
        at("2026-01-01 12:01"),
    ]
    record = (await store.list_runs("tick"))[0]
    assert (record.instance_id, record.started_at) == ("a", at("2026-01-01 12:01:00.004"))
    assert record.finished_at == at("2026-01-01 12:01:00.004")


async def test_the_handler_gets_the_container(store: ScheduleStore, clock: ManualClock) -> None:
    seen: list[Any] = []

    async def handler(container: Container) -> None:
        seen.append(container.resolve("logger"))

    scheduler = make(store, clock)
    scheduler.add_job(handler, EVERY_MINUTE)
    clock.set(at("2026-01-01 12:00"))
    await scheduler.run_pending()
    assert seen == ["log"]


async def test_three_instances_run_each_tick_exactly_once(
    store: ScheduleStore, clock: ManualClock
) -> None:
    calls = Calls()
    instances = [make(store, clock, name) for name in ("a", "b", "c")]
    for scheduler in instances:
        scheduler.add_job(calls, EVERY_MINUTE)
    for minute in range(5):
        clock.set(at(f"2026-01-01 12:0{minute}:00"))
        results = await asyncio.gather(*(scheduler.run_pending() for scheduler in instances))
        assert sum(len(result) for result in results) == 1
    assert len(calls.ticks) == 5
    assert sorted(run.fire_time.minute for run in calls.ticks) == [0, 1, 2, 3, 4]


async def test_missed_ticks_coalesce_into_one_catch_up_run(
    store: ScheduleStore, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler = make(store, clock)
    scheduler.add_job(calls, EVERY_MINUTE)
    clock.set(at("2026-01-01 12:00"))
    await scheduler.run_pending()
    clock.set(at("2026-01-01 12:05:30"))  # 12:01 .. 12:05 were missed
    assert summary(await scheduler.run_pending()) == [("12:05:00", "succeeded")]
    clock.set(at("2026-01-01 12:06"))
    assert summary(await scheduler.run_pending()) == [("12:06:00", "succeeded")]
    assert len(calls.ticks) == 3


async def test_catch_up_skip_drops_late_ticks(store: ScheduleStore, clock: ManualClock) -> None:
    calls = Calls()
    scheduler = make(store, clock, misfire_grace=5)
    scheduler.add_job(calls, {**EVERY_MINUTE, "catch_up": "skip"})
    clock.set(at("2026-01-01 12:00"))
    await scheduler.run_pending()
    clock.set(at("2026-01-01 12:05:30"))
    assert await scheduler.run_pending() == []
    clock.set(at("2026-01-01 12:06:04"))  # within the grace: on time
    assert summary(await scheduler.run_pending()) == [("12:06:00", "succeeded")]
    assert len(calls.ticks) == 2


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("coalesce", ["12:00:00", "12:10:00", "12:11:00"]), ("skip", ["12:00:00", "12:11:00"])],
)
async def test_catch_up_after_downtime_uses_the_stored_history(
    store: ScheduleStore, clock: ManualClock, policy: str, expected: list[str]
) -> None:
    calls = Calls()
    config = {**EVERY_MINUTE, "catch_up": policy}
    first = make(store, clock, "a")
    first.add_job(calls, config)
    clock.set(at("2026-01-01 12:00"))
    await first.run_pending()
    clock.set(at("2026-01-01 12:10:30"))  # the only instance was down since 12:00
    restarted = make(store, clock, "b")
    restarted.add_job(calls, config)
    await restarted.run_pending()
    clock.set(at("2026-01-01 12:11"))
    await restarted.run_pending()
    assert [run.fire_time.strftime("%H:%M:%S") for run in calls.ticks] == expected


async def test_a_new_job_does_not_catch_up(store: ScheduleStore, clock: ManualClock) -> None:
    clock.set(at("2026-01-01 12:10:30"))
    calls = Calls()
    scheduler = make(store, clock)
    scheduler.add_job(calls, EVERY_MINUTE)
    assert await scheduler.run_pending() == []
    clock.set(at("2026-01-01 12:11"))
    assert summary(await scheduler.run_pending()) == [("12:11:00", "succeeded")]


class Gate:
    """A handler that blocks until released, counting how many calls run at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.running = 0
        self.most = 0
        self.entered = asyncio.Event()

    async def __call__(self, container: Container) -> None:
        self.started += 1
        self.running += 1
        self.most = max(self.most, self.running)
        self.entered.set()
        try:
            await self.release.wait()
        finally:
            self.running -= 1


async def start_tick(scheduler: Scheduler, gate: Gate) -> asyncio.Task[list[JobRun]]:
    gate.entered.clear()
    task = asyncio.create_task(scheduler.run_pending())
    await gate.entered.wait()
    return task


@pytest.mark.parametrize("instances", [1, 2])
async def test_a_tick_during_a_run_is_skipped_and_recorded(
    store: ScheduleStore, clock: ManualClock, instances: int
) -> None:
    gate = Gate()
    schedulers = [make(store, clock, name) for name in "ab"[:instances]]
    for scheduler in schedulers:
        scheduler.add_job(gate, EVERY_MINUTE)
    clock.set(at("2026-01-01 12:00"))
    first = await start_tick(schedulers[0], gate)
    clock.set(at("2026-01-01 12:01"))
    assert summary(await schedulers[-1].run_pending()) == [("12:01:00", "skipped_overlap")]
    gate.release.set()
    assert summary(await first) == [("12:00:00", "succeeded")]
    clock.set(at("2026-01-01 12:02"))
    assert summary(await schedulers[-1].run_pending()) == [("12:02:00", "succeeded")]
    assert (gate.started, gate.most) == (2, 1)


async def test_overlap_allow_runs_ticks_side_by_side(
    store: ScheduleStore, clock: ManualClock
) -> None:
    gate = Gate()
    scheduler = make(store, clock)
    scheduler.add_job(gate, {**EVERY_MINUTE, "overlap": "allow"})
    clock.set(at("2026-01-01 12:00"))
    first = await start_tick(scheduler, gate)
    clock.set(at("2026-01-01 12:01"))
    second = await start_tick(scheduler, gate)
    assert gate.most == 2
    gate.release.set()
    assert summary([*await first, *await second]) == [
        ("12:00:00", "succeeded"),
        ("12:01:00", "succeeded"),
    ]


async def test_a_run_of_a_dead_instance_blocks_only_until_its_lease_ends(
    store: ScheduleStore, clock: ManualClock
) -> None:
    dead = await store.claim(
        "tick",
        at("2026-01-01 12:00"),
        instance_id="dead",
        now=at("2026-01-01 12:00"),
        lease_until=at("2026-01-01 12:00:30"),
        skip_if_running=True,
        max_executions=None,
    )
    assert dead is not None
    calls = Calls()
    scheduler = make(store, clock)
    scheduler.add_job(calls, {"name": "tick", "schedule": "*/20 * * * * *"})
    clock.set(at("2026-01-01 12:00:20"))
    assert summary(await scheduler.run_pending()) == [("12:00:20", "skipped_overlap")]
    clock.set(at("2026-01-01 12:00:40"))
    assert summary(await scheduler.run_pending()) == [("12:00:40", "succeeded")]
    abandoned = await store.get_run("tick", at("2026-01-01 12:00"))
    assert abandoned is not None
    assert abandoned.outcome is RunOutcome.FAILED
    assert "'dead'" in (abandoned.error or "")


async def test_the_heartbeat_keeps_a_long_run_live(
    store: ScheduleStore, clock: ManualClock
) -> None:
    gate = Gate()
    runner = make(store, clock, "a", lease=30)
    other = make(store, clock, "b", lease=30)
    runner.add_job(gate, {"name": "tick", "schedule": "*/20 * * * * *"})
    other.add_job(gate, {"name": "tick", "schedule": "*/20 * * * * *"})
    clock.set(at("2026-01-01 12:00:00"))
    first = await start_tick(runner, gate)
    for _ in range(6):  # a minute, in heartbeat periods
        await clock.wait_for_sleepers(1)
        clock.advance(10)
    await clock.wait_for_sleepers(1)
    assert summary(await other.run_pending()) == [("12:01:00", "skipped_overlap")]
    gate.release.set()
    assert summary(await first) == [("12:00:00", "succeeded")]


async def test_number_of_executions_stops_the_job(store: ScheduleStore, clock: ManualClock) -> None:
    calls = Calls()
    config = {**EVERY_MINUTE, "number_of_executions": 2}
    scheduler = make(store, clock)
    scheduler.add_job(calls, config)
    for minute in range(4):
        clock.set(at(f"2026-01-01 12:0{minute}"))
        await scheduler.run_pending()
    assert len(calls.ticks) == 2
    assert summary(list(reversed(await store.list_runs("tick")))) == [
        ("12:00:00", "succeeded"),
        ("12:01:00", "succeeded"),
        ("12:02:00", "skipped_limit"),
    ]
    later = make(store, clock, "b")  # a restarted instance sees the limit in the store
    later.add_job(calls, config)
    clock.set(at("2026-01-01 12:10"))
    assert await later.run_pending() == []
    assert len(await store.list_runs("tick")) == 3


async def test_a_failing_handler_is_recorded_and_the_schedule_goes_on(
    store: ScheduleStore, clock: ManualClock
) -> None:
    outcomes = iter([ValueError("boom"), None])

    async def handler(container: Container) -> None:
        error = next(outcomes)
        if error is not None:
            raise error

    scheduler = make(store, clock)
    scheduler.add_job(handler, EVERY_MINUTE)
    clock.set(at("2026-01-01 12:00"))
    [failed] = await scheduler.run_pending()
    assert (failed.outcome, failed.error) == (RunOutcome.FAILED, "ValueError: boom")
    assert await store.get_run("tick", at("2026-01-01 12:00")) == failed
    clock.set(at("2026-01-01 12:01"))
    assert summary(await scheduler.run_pending()) == [("12:01:00", "succeeded")]


async def test_sync_handlers_run_in_a_thread_and_see_their_run(
    store: ScheduleStore, clock: ManualClock
) -> None:
    seen: list[tuple[int, JobRun]] = []

    def handler(container: Container) -> None:
        seen.append((threading.get_ident(), current_run()))

    scheduler = make(store, clock)
    scheduler.add_job(handler, EVERY_MINUTE)
    clock.set(at("2026-01-01 12:00"))
    await scheduler.run_pending()
    [(thread, run)] = seen
    assert thread != threading.get_ident()
    assert run.fire_time == at("2026-01-01 12:00")
    with pytest.raises(LookupError, match="inside a scheduled job handler"):
        current_run()


async def test_trigger_runs_a_job_now(store: ScheduleStore, clock: ManualClock) -> None:
    calls = Calls()
    scheduler = make(store, clock)
    scheduler.add_job(calls, {**EVERY_MINUTE, "number_of_executions": 1})
    run = await scheduler.trigger("tick")
    assert (run.manual, run.outcome, run.fire_time) == (True, RunOutcome.SUCCEEDED, clock.now())
    assert calls.ticks[0].manual
    clock.set(at("2026-01-01 12:00"))  # manual runs do not use up number_of_executions
    assert summary(await scheduler.run_pending()) == [("12:00:00", "succeeded")]
    with pytest.raises(NotFoundError, match="registered jobs: tick"):
        await scheduler.trigger("nope")


async def test_trigger_is_refused_while_the_job_runs(
    store: ScheduleStore, clock: ManualClock
) -> None:
    gate = Gate()
    scheduler = make(store, clock)
    scheduler.add_job(gate, EVERY_MINUTE)
    scheduler.add_job(gate, {"name": "free", "schedule": "* * * * *", "overlap": "allow"})
    running = await scheduler.trigger("tick", wait=False)
    assert running.outcome is RunOutcome.RUNNING
    with pytest.raises(JobAlreadyRunningError, match="'tick' is still running") as caught:
        await scheduler.trigger("tick")
    assert caught.value.job == "tick"
    assert caught.value.retryable
    await scheduler.trigger("free", wait=False)
    await scheduler.trigger("free", wait=False)
    gate.release.set()
    await scheduler.stop()
    assert gate.started == 3
    runs = await store.list_runs()
    assert [run.outcome for run in runs] == [RunOutcome.SUCCEEDED] * 3


@pytest.mark.parametrize(
    ("handler", "config", "words"),
    [
        (lambda container: None, {"name": "x"}, "'schedule'"),
        ("not callable", EVERY_MINUTE, "not callable"),
    ],
)
def test_add_job_refuses_bad_jobs(
    store: ScheduleStore,
    clock: ManualClock,
    handler: Callable[..., Any],
    config: dict[str, Any],
    words: str,
) -> None:
    scheduler = make(store, clock)
    with pytest.raises(DefinitionError, match=words):
        scheduler.add_job(handler, config)


def test_job_names_are_unique(store: ScheduleStore, clock: ManualClock) -> None:
    scheduler = make(store, clock)
    scheduler.add_job(Calls(), EVERY_MINUTE)
    with pytest.raises(DefinitionError, match="registered twice"):
        scheduler.add_job(Calls(), EVERY_MINUTE)
    assert list(scheduler.jobs) == ["tick"]


async def test_instances_share_a_sqlite_file(tmp_path: Path, clock: ManualClock) -> None:
    stores = [SqlAlchemyScheduleStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}") for _ in range(3)]
    calls = Calls()
    instances = [make(store, clock, name) for store, name in zip(stores, "abc", strict=True)]
    for scheduler in instances:
        scheduler.add_job(calls, {"name": "tick", "schedule": "*/10 * * * * *"})
    for second in range(0, 60, 10):
        clock.set(at(f"2026-01-01 12:00:{second:02d}"))
        await asyncio.gather(*(scheduler.run_pending() for scheduler in instances))
    assert sorted(run.fire_time.second for run in calls.ticks) == [0, 10, 20, 30, 40, 50]
    runs = await stores[0].list_runs("tick")
    assert [run.outcome for run in runs] == [RunOutcome.SUCCEEDED] * 6
    for store in stores:
        await store.close()


async def tick_for(scheduler: Scheduler, clock: ManualClock, minutes: int) -> None:
    """Move the clock a minute at a time, running what is due each time."""
    for _ in range(minutes):
        clock.advance(60)
        await scheduler.run_pending()


async def test_old_run_records_are_pruned_hourly_keeping_the_latest(
    store: ScheduleStore, clock: ManualClock
) -> None:
    scheduler = make(store, clock, run_retention=600)
    scheduler.add_job(Calls(), EVERY_MINUTE)

    await tick_for(scheduler, clock, 180)

    runs = await store.list_runs("tick", limit=1000)
    # Pruned at the first tick and then hourly: never more than the retention (10 runs)
    # plus the hour since the last pruning.
    assert 10 <= len(runs) <= 10 + 60 + 1
    assert all(run.finished_at is not None for run in runs)
    assert all(clock.now() - run.finished_at < timedelta(minutes=71) for run in runs)

    # A new instance carries on from the latest record: no catch-up of pruned ticks.
    calls = Calls()
    restarted = make(store, clock, "b", run_retention=600)
    restarted.add_job(calls, EVERY_MINUTE)
    await restarted.run_pending()
    assert calls.ticks == []


async def test_limited_jobs_and_no_retention_keep_every_record(
    store: ScheduleStore, clock: ManualClock
) -> None:
    limited = make(store, clock, run_retention=60)
    limited.add_job(Calls(), {**EVERY_MINUTE, "number_of_executions": 500})
    keeping = make(store, clock, "b", run_retention=None)
    keeping.add_job(Calls(), {**EVERY_MINUTE, "name": "kept"})

    for _ in range(130):
        clock.advance(60)
        await limited.run_pending()
        await keeping.run_pending()

    assert len(await store.list_runs("tick", limit=1000)) == 130
    assert len(await store.list_runs("kept", limit=1000)) == 130


class FailingPrune(MemoryScheduleStore):
    """A store whose pruning always fails."""

    async def prune_runs(self, job: str, *, finished_before: datetime) -> int:
        raise RuntimeError("the database went away")


async def test_a_failing_prune_neither_loses_the_run_nor_stops_the_job(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls = Calls()
    scheduler = make(FailingPrune(), clock, run_retention=60)
    scheduler.add_job(calls, EVERY_MINUTE)

    await tick_for(scheduler, clock, 3)

    assert len(calls.ticks) == 3
    assert "could not delete old run records" in caplog.text
