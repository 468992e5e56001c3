"""Many instances: three ``loomwork start --mode worker`` processes share one database.

On PostgreSQL + Redis, for at least 60 ticks of a 1-second job: every second of the
window has exactly one run record, each record's tick ran once to the end on the
instance the record names, and no two runs overlapped. Midway, the instance running a
durable workflow is killed with SIGKILL (between two ticks); the other two keep ticking
and one of them finishes the interrupted workflow run. The tick job writes
``start``/``end`` lines with its pid to a shared file (O_APPEND lines are atomic), so the
check does not rely on the scheduler's own records alone.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loomwork.scheduler import JobRun, RunOutcome
from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore
from loomwork.workflows import RunState
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

from .conftest import make_project
from .processes import Instance, instances, wait_until

TICKS = 60
"""Ticks the PostgreSQL test covers at least (about a minute)."""
AFTER_KILL = 30
"""Ticks that must run after the kill, on the survivors."""
DURABLE_DELAY = 20
"""Seconds from the test's start to the durable workflow's start (then the kill)."""
SQLITE_TICKS = 10

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
import os

config = {
    "name": "durable",
    "schedule": {"interval": 86400, "start": os.environ["DURABLE_AT"]},
    "number_of_executions": 1,
}

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
    fire: datetime
    pid: int
    start: float
    end: float | None = None


def read_ticks(path: Path) -> list[Tick]:
    """The tick job's calls in start order; fails on a tick started twice."""
    ticks: dict[datetime, Tick] = {}
    starts: collections.Counter[datetime] = collections.Counter()
    for line in path.read_text().splitlines():
        kind, raw_fire, pid, moment = line.split()
        fire = datetime.fromisoformat(raw_fire)
        if kind == "start":
            starts[fire] += 1
            ticks[fire] = Tick(fire, int(pid), float(moment))
        else:
            assert ticks[fire].pid == int(pid), f"tick {raw_fire} ended on another process"
            ticks[fire].end = float(moment)
    duplicated = [fire.isoformat() for fire, count in starts.items() if count > 1]
    assert duplicated == [], f"ticks run more than once: {duplicated}"
    return sorted(ticks.values(), key=lambda tick: tick.start)


def check_ticks(ticks: list[Tick], records: list[JobRun], minimum: int) -> None:
    """Exactly one record per second of the window, each run once, to the end, alone."""
    per_second = collections.Counter(record.fire_time for record in records)
    assert [f for f, n in per_second.items() if n > 1] == [], "a tick was recorded twice"
    first, last = min(per_second), max(per_second)
    window = [first + timedelta(seconds=s) for s in range(int((last - first).total_seconds()) + 1)]
    assert len(window) >= minimum, f"only {len(window)} ticks from {first} to {last}"
    missed = sorted(set(window) - set(per_second))
    assert missed == [], f"seconds of the schedule with no run: {missed}"
    assert set(per_second) == set(window), "a record is off the 1-second schedule"
    not_run = [r for r in records if r.outcome is not RunOutcome.SUCCEEDED]
    assert not_run == [], f"ticks that did not run to success: {not_run}"
    assert [tick.fire for tick in sorted(ticks, key=lambda t: t.fire)] == window
    by_fire = {record.fire_time: record for record in records}
    for tick in ticks:
        assert tick.end is not None, f"tick {tick.fire} never ended"
        assert by_fire[tick.fire].instance_id.split(":")[1] == str(tick.pid)
    for earlier, later in itertools.pairwise(ticks):
        assert earlier.end is not None
        assert later.start >= earlier.end, f"{later.fire} overlapped {earlier.fire}"


async def job_records(url: str, job: str = "tick") -> list[JobRun]:
    store = SqlAlchemyScheduleStore(url)
    try:
        return await store.list_runs(job, limit=10_000)
    finally:
        await store.close()


def started_ticks(path: Path) -> int:
    return path.read_text().count("start ") if path.exists() else 0


def kill_between_ticks(victim: Instance, tick_log: Path) -> float:
    """SIGKILL ``victim`` once this second's tick has ended, well before the next one.

    A tick cut short would legitimately block the next ones (overlap policy ``skip``)
    until its lease ran out; the scheduler's own process test covers that case.
    """

    def quiet() -> bool:
        now = time.time()
        ticks = read_ticks(tick_log)
        latest = ticks[-1] if ticks else None
        return (
            latest is not None
            and latest.end is not None
            and latest.fire.timestamp() == math.floor(now)
            and now % 1 < 0.7
        )

    wait_until(quiet, 20, "a moment between two ticks")
    victim.kill()
    return time.time()


async def check_recovery(marks: list[str], survivors: set[int], url: str) -> None:
    """A survivor finished the killed worker's run, and its event went out once."""
    finisher = int(marks[marks.index("finish") + 1])
    assert finisher in survivors
    store = SqlAlchemyStore(url)
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
    assert int(marks[marks.index("event") + 1]) in survivors


def fleet_files() -> dict[str, str]:
    return {
        "src/jobs/tick.py": TICK_JOB,
        "src/jobs/durable.py": DURABLE_JOB,
        "src/workflows/slow.py": SLOW_WORKFLOW,
        "src/subscribers/on_synced.py": SYNCED_SUBSCRIBER,
    }


def marks_of(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(200)
async def test_three_workers_on_postgres_tick_once_for_a_minute_and_recover_a_killed_run(
    tmp_path: Path, fresh_pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    redis = f'[redis]\nurl = "{redis_url}"\nprefix = "{redis_prefix}"\n'
    database = f'[database]\nurl = "{fresh_pg_url}"\n'
    root = make_project(tmp_path / "fleet", fleet_files(), database + redis + SETTINGS)
    tick_log, mark_log = tmp_path / "ticks.log", tmp_path / "marks.log"
    durable_at = datetime.fromtimestamp(math.ceil(time.time()) + DURABLE_DELAY, UTC)
    env = {"TICK_LOG": str(tick_log), "MARK_LOG": str(mark_log), "DURABLE_AT": str(durable_at)}
    with instances(root, 3, [], env, tmp_path) as workers:
        wait_until(lambda: "slow-start" in marks_of(mark_log), 60, "the durable workflow")
        victim_pid = int(marks_of(mark_log)[1])
        victim = next(worker for worker in workers if worker.pid == victim_pid)
        killed_at = kill_between_ticks(victim, tick_log)
        ticks_at_kill = started_ticks(tick_log)
        wait_until(lambda: "finish" in marks_of(mark_log), 30, "another worker to recover")
        wait_until(lambda: "event" in marks_of(mark_log), 15, "the run's event on Redis")
        wait_until(
            lambda: started_ticks(tick_log) >= max(TICKS + 1, ticks_at_kill + AFTER_KILL),
            TICKS + AFTER_KILL,
            "the rest of the ticks",
        )
        survivors: list[Instance] = [worker for worker in workers if worker is not victim]
        statuses = [worker.terminate() for worker in survivors]
    assert statuses == [0, 0], [worker.log() for worker in survivors]
    await check_recovery(marks_of(mark_log), {w.pid for w in survivors}, fresh_pg_url)
    [durable] = await job_records(fresh_pg_url, "durable")
    assert durable.fire_time == durable_at
    assert durable.instance_id.split(":")[1] == str(victim_pid)
    ticks = read_ticks(tick_log)
    check_ticks(ticks, await job_records(fresh_pg_url), minimum=TICKS)
    after_kill = [tick for tick in ticks if tick.start > killed_at]
    assert len(after_kill) >= AFTER_KILL
    assert {tick.pid for tick in after_kill} <= {worker.pid for worker in survivors}
    # Before the kill the ticks were shared out (which instance wins a tick is a race).
    assert len({tick.pid for tick in ticks if tick.start < killed_at}) >= 2


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_three_workers_on_one_sqlite_file_tick_once(tmp_path: Path) -> None:
    """The same exactly-once check on SQLite, over a shorter window (10 ticks, no kill)."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    root = make_project(
        tmp_path / "fleet", {"src/jobs/tick.py": TICK_JOB}, f'[database]\nurl = "{url}"\n{SETTINGS}'
    )
    tick_log = tmp_path / "ticks.log"
    with instances(root, 3, [], {"TICK_LOG": str(tick_log)}, tmp_path) as workers:
        wait_until(lambda: started_ticks(tick_log) >= SQLITE_TICKS, 40, f"{SQLITE_TICKS} ticks")
        statuses = [worker.terminate() for worker in workers]
    assert statuses == [0, 0, 0], [worker.log() for worker in workers]
    records = await job_records(url)
    check_ticks(read_ticks(tick_log), records, minimum=SQLITE_TICKS)
    assert len({record.instance_id for record in records}) >= 2
