"""Several engine processes share one PostgreSQL store: each orphan is resumed once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import recover_worker  # the worker module defines the workflow the processes share
import sqlalchemy as sa

from loomwork.workflows import RunState, WorkflowEngine
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RUNS = 40


async def test_each_orphaned_run_is_resumed_by_exactly_one_process(
    pg_url: str, tmp_path: Path
) -> None:
    store = SqlAlchemyStore(pg_url, table_prefix="multi_")
    # The dead owner's clock is far in the past, so its leases are long expired.
    dead = WorkflowEngine(store, owner="dead", lease_seconds=1, clock=lambda: 1_000.0)
    for number in range(RUNS):
        execution = await dead.start(
            recover_worker.orphaned, number, f"orphan-{number}", None, dead.container
        )
        await execution.invoke(recover_worker.orphaned.stages[0][0])
    await dead.close()

    journal = tmp_path / "journal"
    worker_script = Path(recover_worker.__file__)
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - the workers run while this test only waits
            [sys.executable, str(worker_script), pg_url, "multi_", str(journal)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err

    lines = journal.read_text().splitlines()
    per_run = Counter(line.split()[0] for line in lines)
    assert per_run == {f"orphan-{n}": 1 for n in range(RUNS)}
    assert len({line.split()[1] for line in lines}) >= 2  # the work really was shared
    runs = await store.list_runs(workflow="orphaned", limit=RUNS + 1)
    assert {run.state for run in runs} == {RunState.DONE}
    await store.close()
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE multi_steps, multi_runs")
    engine.dispose()
