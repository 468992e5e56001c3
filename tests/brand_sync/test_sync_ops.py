"""Operating the sync: the scheduled job, no overlapping runs, and the dry run."""

from __future__ import annotations

import asyncio
import logging

import pytest

from loomwork.scheduler import CronSchedule, load_jobs
from reference_brand_system import RunningServer

from .conftest import App, brand, build_app, close_app, pull
from .helpers import delete_in_system, rename_in_system, seed, set_faults, system_brands
from .project import PACKAGE, SRC

SYNC_LOG = "Synced brands from third-party system: {} brands created and {} brands updated."


async def wait_for_lock(app: App) -> None:
    state_module = __import__(f"{brand.__name__}.sync_state", fromlist=["read_state"])
    for _ in range(500):
        state = state_module.read_state(app.engine, pull.SYNC_NAME)
        if state and state["lock_owner"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first sync never took the lock")


async def test_the_job_runs_the_sync_and_logs_the_seed_message(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    (job,) = load_jobs(SRC / "jobs", package=f"{PACKAGE}.jobs")
    seed(app.system, 7)
    caplog.set_level(logging.INFO, logger="brand_sync.app")

    await job.handler(app.container)  # type: ignore[misc]
    rename_in_system(app.system, system_brands(app.system)[0]["id"], "Seven")
    await job.handler(app.container)  # type: ignore[misc]

    assert job.name == "sync-brands-from-system"
    assert job.config.schedule == CronSchedule("* * * * *")
    messages = [record.getMessage() for record in caplog.records]
    assert SYNC_LOG.format(7, 0) in messages
    assert SYNC_LOG.format(0, 1) in messages
    assert any(message.startswith("Brand sync details: 0 deleted") for message in messages)


async def test_a_run_while_another_is_going_is_refused(
    db_url: str, brand_system: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    seed(brand_system, 60)
    set_faults(brand_system, latency_ms=600)
    app = await build_app(db_url, brand_system, lock_seconds=0.2)
    try:
        first = asyncio.create_task(pull.sync_brands_from_system(app.container))
        await wait_for_lock(app)
        await asyncio.sleep(0.4)  # past the first lease: the running sync must have renewed it

        with pytest.raises(brand.SyncAlreadyRunningError, match="already running") as refused:
            await pull.sync_brands_from_system(app.container)
        (job,) = load_jobs(SRC / "jobs", package=f"{PACKAGE}.jobs")
        caplog.set_level(logging.INFO, logger="brand_sync.app")
        await job.handler(app.container)  # type: ignore[misc]

        report = await first
        set_faults(brand_system)
        again = await pull.sync_brands_from_system(app.container)
    finally:
        await close_app(app)
    assert "wait for the running one to finish" in str(refused.value)
    assert any("already running" in record.getMessage() for record in caplog.records)
    assert report.created == 60
    assert again.created == 0


async def test_a_dry_run_counts_the_plan_and_writes_nothing(app: App) -> None:
    seed(app.system, 30)
    await pull.sync_brands_from_system(app.container)
    rows = system_brands(app.system)
    rename_in_system(app.system, rows[0]["id"], "Changed")
    rename_in_system(app.system, rows[1]["id"], "Changed too")
    delete_in_system(app.system, rows[2]["id"])
    seed(app.system, 4, prefix="New")

    counter = app.count_writes()
    plan = await pull.dry_run_brand_sync(app.container)
    app.stop_counting(counter)
    report = await pull.sync_brands_from_system(app.container)

    assert counter.statements == []
    assert plan.counts == {
        "created": 4,
        "updated": 2,
        "deleted": 1,
        "unchanged": 0,
        "quarantined": 0,
    }
    assert (report.created, report.updated, report.deleted) == (4, 2, 1)
