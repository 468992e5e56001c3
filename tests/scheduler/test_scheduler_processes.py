"""Exactly once across processes: 3 OS processes share one database, on the real clock.

One of them is killed with SIGKILL in the middle of a run; the others carry on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from loomwork.scheduler import RunOutcome
from loomwork.scheduler.stores._port import abandoned_error
from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore

WORKER = Path(__file__).with_name("scheduler_process.py")
PROCESSES = 3
WINDOW_SECONDS = 11.0


def spawn(url: str, log: Path, instance: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, str(log), instance],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def handler_calls(log: Path, job: str) -> list[tuple[int, float, float]]:
    """(fire second, start, end) of every handler call of ``job``."""
    calls = []
    for line in log.read_text().splitlines():
        name, fire, start, end, _instance = line.split()
        if name == job:
            calls.append((round(float(fire)), float(start), float(end)))
    return sorted(calls)


async def check_backend(
    store: SqlAlchemyScheduleStore, log: Path, window: set[int], victim: str
) -> None:
    runs = await store.list_runs(limit=10_000)
    for job in ("short", "long"):
        records = Counter(round(run.fire_time.timestamp()) for run in runs if run.job == job)
        assert all(count == 1 for count in records.values()), f"{job}: a tick recorded twice"
        assert window <= set(records), f"{job}: ticks missing: {sorted(window - set(records))}"
        calls = handler_calls(log, job)
        fired = Counter(fire for fire, _, _ in calls)
        assert all(count == 1 for count in fired.values()), f"{job}: a tick ran twice"
        executed = {
            round(run.fire_time.timestamp())
            for run in runs
            if run.job == job and run.outcome is RunOutcome.SUCCEEDED
        }
        assert set(fired) == executed, f"{job}: handler calls and records disagree"
        for (_, _, end), (_, start, _) in pairwise(calls):
            assert start >= end, f"{job}: two runs overlapped"
    short = {round(run.fire_time.timestamp()): run.outcome for run in runs if run.job == "short"}
    assert all(short[second] is RunOutcome.SUCCEEDED for second in window)
    # The killed instance's run of `long` is marked abandoned once its lease ends, and
    # the job goes on at the other instances.
    long = [run for run in runs if run.job == "long" and round(run.fire_time.timestamp()) in window]
    [abandoned] = [run for run in long if run.outcome is RunOutcome.FAILED]
    assert abandoned.error == abandoned_error(victim)
    outcomes = Counter(run.outcome for run in long if run is not abandoned)
    assert set(outcomes) == {RunOutcome.SUCCEEDED, RunOutcome.SKIPPED_OVERLAP}
    assert any(
        run.outcome is RunOutcome.SUCCEEDED and run.fire_time > abandoned.fire_time for run in long
    )


async def kill_a_long_runner(
    store: SqlAlchemyScheduleStore, workers: dict[str, subprocess.Popen[str]]
) -> str:
    """SIGKILL the instance running `long` mid-second (between two `short` ticks)."""
    while True:
        running = [
            run
            for run in await store.list_runs("long", limit=3)
            if run.outcome is RunOutcome.RUNNING
        ]
        if running and 0.3 < time.time() % 1 < 0.7:
            victim = running[0].instance_id
            workers[victim].kill()
            return victim
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.postgres
async def test_three_processes_run_every_tick_exactly_once_and_survive_a_kill(
    pg_url: str, tmp_path: Path
) -> None:
    backends = {"postgresql": pg_url, "sqlite": f"sqlite:///{tmp_path / 'jobs.sqlite'}"}
    stores = {name: SqlAlchemyScheduleStore(url) for name, url in backends.items()}
    for store in stores.values():
        store.create_tables()  # before the workers start, so they do not race to create it
    workers = {
        f"{name}-{index}": spawn(url, tmp_path / f"{name}.log", f"{name}-{index}")
        for name, url in backends.items()
        for index in range(PROCESSES)
    }
    victims: dict[str, str] = {}
    try:
        for worker in workers.values():
            assert worker.stdout is not None
            assert await asyncio.to_thread(worker.stdout.readline) == "ready\n"
        window_start = time.time()
        await asyncio.sleep(2)  # real processes on the real clock
        for name, store in stores.items():
            victims[name] = await kill_a_long_runner(store, workers)
        await asyncio.sleep(WINDOW_SECONDS - (time.time() - window_start))
        window_end = time.time()
    finally:
        for worker in workers.values():
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        results = {
            instance: await asyncio.to_thread(worker.communicate, timeout=30)
            for instance, worker in workers.items()
        }
    for instance, worker in workers.items():
        expected = -signal.SIGKILL if instance in victims.values() else 0
        assert worker.returncode == expected, f"{instance}:\n{results[instance][1]}"
    window = set(range(int(window_start) + 1, int(window_end) - 1))
    assert len(window) >= 8
    try:
        for name, store in stores.items():
            await check_backend(store, tmp_path / f"{name}.log", window, victims[name])
    finally:
        for store in stores.values():
            store.table.metadata.drop_all(store.engine)  # type: ignore[union-attr]
            await store.close()
