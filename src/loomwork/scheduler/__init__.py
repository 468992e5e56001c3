"""Scheduled jobs: cron and interval schedules, run once per tick across instances.

::

    from loomwork.scheduler import Scheduler, load_jobs
    from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore

    scheduler = Scheduler(SqlAlchemyScheduleStore("sqlite:///app.sqlite"), container=container)
    for job in load_jobs("src/jobs"):
        scheduler.add_job(job.handler, job.config)
    await scheduler.start()

Stores live in :mod:`loomwork.scheduler.stores` (the port and the memory store) and
:mod:`loomwork.scheduler.stores.sqlalchemy` (SQLite and PostgreSQL).
"""

from loomwork.scheduler._clock import Clock, ManualClock, SystemClock
from loomwork.scheduler._config import CatchUpPolicy, JobConfig, OverlapPolicy, parse_job_config
from loomwork.scheduler._errors import JobAlreadyRunningError, JobConfigError
from loomwork.scheduler._execution import Handler, current_run
from loomwork.scheduler._loader import ScheduledJob, load_jobs
from loomwork.scheduler._records import JobRun, RunOutcome
from loomwork.scheduler._schedule import (
    CronSchedule,
    IntervalSchedule,
    Schedule,
    latest_fire_time,
    next_fire_time,
)
from loomwork.scheduler._scheduler import Scheduler

__all__ = [
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
