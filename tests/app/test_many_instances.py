"""Many instances: three ``loomwork start --mode worker`` processes share one database.

Every tick of a 1-second job must run exactly once and never overlap another; a worker
killed with SIGKILL in the middle of a durable workflow must have that run finished by
another worker. The tick job writes ``start``/``end`` lines with its pid to a shared file
(O_APPEND lines are atomic), so the check does not rely on the scheduler's own records.
"""

from __future__ import annotations

import collections
import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from loomwork.scheduler import JobRun
from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore
from loomwork.workflows import RunState
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

from .conftest import make_project
from .processes import Instance, instances, wait_until

TICKS = 10

TICK_JOB = """
import asyncio, os, time
from loomwork.scheduler import current_run

config = {"name": "tick", "schedule": "every 1s"}

def write(line):
    with open(os.environ["TICK_LOG"], "a") as log:
        log.write(line + "\\n")

async def handler(container):
    fire = current_run().fire_time.isoformat()
    write(f"start {fire} {os.getpid()} {time.time():.6f}")
    await asyncio.sleep(0.3)
    write(f"end {fire} {os.getpid()} {time.time():.6f}")
"""

DURABLE_JOB = """
config = {"name": "durable", "schedule": "every 1s", "number_of_executions": 1}

async def handler(container):
    await container.resolve("workflow_engine").run("slow-sync", {}, transaction_id="slow-1")
"""

SLOW_WORKFLOW = """
import asyncio, os
from loomwork.events import Event
from loomwork.workflows import StepResponse, WorkflowResponse, create_step, create_workflow

def mark(line):
    with open(os.environ["MARK_LOG"], "a") as log:
        log.write(line + "\\n")

async def slow(input, ctx):
    mark(f"slow-start {os.getpid()}")
    await asyncio.sleep(3)
    return StepResponse(os.getpid())

async def finish(slow_pid, ctx):
    mark(f"finish {os.getpid()}")
    ctx.events.emit([Event("fleet.synced", {"finished_by": os.getpid()})])
    return StepResponse({"slow_by": slow_pid, "finished_by": os.getpid()})

slow_step = create_step("slow-step", slow)
finish_step = create_step("finish-step", finish)

@create_workflow("slow-sync", store=True)
def slow_sync(input):
    return WorkflowResponse(finish_step(slow_step(input)))
"""

SYNCED_SUBSCRIBER = """
import os

config = {"event": "fleet.synced"}

async def handler(event, container):
    with open(os.environ["MARK_LOG"], "a") as log:
        log.write(f"event {os.getpid()} {event.data['finished_by']}\\n")
"""

SETTINGS = """
[worker]
mode = "worker"
grace_period = 5

[workflows]
lease = 2
poll_interval = 0.5

[scheduler]
lease = 3
"""


@dataclass
class Tick:
    fire: str
    pid: int
    start: float
    end: float | None = None


def read_ticks(path: Path) -> list[Tick]:
    ticks: dict[str, Tick] = {}
    starts: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        kind, fire, pid, moment = line.split()
        if kind == "start":
            starts[fire] += 1
            ticks[fire] = Tick(fire, int(pid), float(moment))
        else:
            assert ticks[fire].pid == int(pid)
            ticks[fire].end = float(moment)
    duplicated = [fire for fire, count in starts.items() if count > 1]
    assert duplicated == [], f"ticks run more than once: {duplicated}"
    return sorted(ticks.values(), key=lambda tick: tick.start)


def check_ticks(path: Path, records: list[JobRun], killed: int | None) -> None:
    ticks = read_ticks(path)
    assert len(ticks) >= TICKS
    for earlier, later in itertools.pairwise(ticks):
        if earlier.end is None:
            assert earlier.pid == killed, f"tick {earlier.fire} never ended"
            continue
        assert later.start >= earlier.end, f"{later.fire} overlapped {earlier.fire}"
    by_fire = {record.fire_time: record for record in records}
    fires = sorted(by_fire)
    assert [b - a for a, b in itertools.pairwise(fires)] == [timedelta(seconds=1)] * (
        len(fires) - 1
    ), "a tick has no record: it was missed"
    for tick in ticks:
        record = by_fire[datetime.fromisoformat(tick.fire)]
        assert record.outcome.executed
        assert record.instance_id.split(":")[1] == str(tick.pid)
    started = {tick.fire for tick in ticks}
    for record in records:
        if record.outcome.executed and record.fire_time.isoformat() not in started:
            assert record.instance_id.split(":")[1] == str(killed)


async def job_records(url: str) -> list[JobRun]:
    store = SqlAlchemyScheduleStore(url)
    try:
        return await store.list_runs("tick", limit=1000)
    finally:
        await store.close()


def started_ticks(path: Path) -> int:
    return path.read_text().count("start ") if path.exists() else 0


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
async def test_three_workers_on_postgres_tick_once_and_recover_a_killed_run(
    tmp_path: Path, fresh_pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    files = {
        "src/jobs/tick.py": TICK_JOB,
        "src/jobs/durable.py": DURABLE_JOB,
        "src/workflows/slow.py": SLOW_WORKFLOW,
        "src/subscribers/on_synced.py": SYNCED_SUBSCRIBER,
    }
    redis = f'[redis]\nurl = "{redis_url}"\nprefix = "{redis_prefix}"\n'
    database = f'[database]\nurl = "{fresh_pg_url}"\n'
    root = make_project(tmp_path / "fleet", files, database + redis + SETTINGS)
    tick_log, mark_log = tmp_path / "ticks.log", tmp_path / "marks.log"
    env = {"TICK_LOG": str(tick_log), "MARK_LOG": str(mark_log)}
    with instances(root, 3, [], env, tmp_path) as workers:
        wait_until(
            lambda: "slow-start" in (mark_log.read_text() if mark_log.exists() else ""),
            30,
            "the durable workflow to start",
        )
        victim_pid = int(mark_log.read_text().split()[1])
        victim = next(worker for worker in workers if worker.pid == victim_pid)
        victim.kill()
        ticks_at_kill = started_ticks(tick_log)
        wait_until(lambda: "finish" in mark_log.read_text(), 30, "another worker to recover")
        wait_until(lambda: "event" in mark_log.read_text(), 15, "the run's event on Redis")
        wait_until(
            lambda: started_ticks(tick_log) >= max(TICKS, ticks_at_kill + 3),
            30,
            "ticks after the kill",
        )
        survivors: list[Instance] = [worker for worker in workers if worker is not victim]
        statuses = [worker.terminate() for worker in survivors]
    assert statuses == [0, 0], [worker.log() for worker in survivors]
    marks = mark_log.read_text().split()
    finisher = int(marks[marks.index("finish") + 1])
    assert finisher != victim_pid
    assert finisher in {worker.pid for worker in survivors}
    store = SqlAlchemyStore(fresh_pg_url)
    try:
        run = await store.load_run("slow-sync", "slow-1")
    finally:
        await store.close()
    assert run is not None
    assert run.state is RunState.DONE
    # The step in flight at the kill ran again on the recovering worker (at-least-once).
    assert json.loads(run.result_json or "null") == {"slow_by": finisher, "finished_by": finisher}
    assert marks.count("slow-start") == 2
    # The run's event went out once, after it succeeded, to one worker of the group.
    assert marks.count("event") == 1
    assert marks[marks.index("event") + 2] == str(finisher)
    assert int(marks[marks.index("event") + 1]) in {worker.pid for worker in survivors}
    check_ticks(tick_log, await job_records(fresh_pg_url), killed=victim_pid)


@pytest.mark.slow
async def test_three_workers_on_one_sqlite_file_tick_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    root = make_project(
        tmp_path / "fleet", {"src/jobs/tick.py": TICK_JOB}, f'[database]\nurl = "{url}"\n{SETTINGS}'
    )
    tick_log = tmp_path / "ticks.log"
    with instances(root, 3, [], {"TICK_LOG": str(tick_log)}, tmp_path) as workers:
        wait_until(lambda: started_ticks(tick_log) >= TICKS, 40, f"{TICKS} ticks")
        statuses = [worker.terminate() for worker in workers]
    assert statuses == [0, 0, 0], [worker.log() for worker in workers]
    records = await job_records(url)
    check_ticks(tick_log, records, killed=None)
    assert len({record.instance_id for record in records}) >= 2
