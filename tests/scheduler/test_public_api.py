"""The scheduler's public names are pinned: adding or removing one is a deliberate change."""

from __future__ import annotations

import loomwork.scheduler
import loomwork.scheduler.stores
import loomwork.scheduler.stores.sqlalchemy


def test_public_names() -> None:
    assert sorted(loomwork.scheduler.__all__) == [
        "CatchUpPolicy",
        "Clock",
        "CronSchedule",
        "Handler",
        "IntervalSchedule",
        "JobAlreadyRunningError",
        "JobConfig",
        "JobConfigError",
        "JobRun",
        "ManualClock",
        "OverlapPolicy",
        "RunOutcome",
        "Schedule",
        "ScheduledJob",
        "Scheduler",
        "SystemClock",
        "current_run",
        "latest_fire_time",
        "load_jobs",
        "next_fire_time",
        "parse_job_config",
    ]
    assert sorted(loomwork.scheduler.stores.__all__) == ["MemoryScheduleStore", "ScheduleStore"]
    for name in loomwork.scheduler.__all__:
        assert getattr(loomwork.scheduler, name) is not None


def test_the_sql_store_is_imported_by_path() -> None:
    store = loomwork.scheduler.stores.sqlalchemy.SqlAlchemyScheduleStore
    assert issubclass(store, loomwork.scheduler.stores.ScheduleStore)
    assert "SqlAlchemyScheduleStore" not in loomwork.scheduler.stores.__all__
