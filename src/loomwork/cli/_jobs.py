"""``loomwork jobs list|run|runs``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loomwork.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    open_project,
    print_json,
    run,
    table,
)
from loomwork.errors import NotFoundError

if TYPE_CHECKING:
    from loomwork.scheduler import JobRun, Scheduler

__all__ = ["jobs_app"]

jobs_app = typer.Typer(
    help="Scheduled jobs: list them, run one now, see their runs.", no_args_is_help=True
)


def _schedule_text(job: Any) -> str:
    from loomwork.scheduler import CronSchedule

    schedule = job.config.schedule
    if isinstance(schedule, CronSchedule):
        return f"cron {schedule.normalized} ({schedule.timezone.key})"
    return f"every {schedule.every.total_seconds():g}s"


@jobs_app.command("list")
def jobs_list(project: ProjectOption = Path(), json: JsonOption = False) -> None:
    """The project's jobs with their schedules and next fire time."""
    from loomwork.app import load_config, load_project
    from loomwork.scheduler import next_fire_time

    async def load() -> list[dict[str, Any]]:
        loaded = load_project(load_config(project).root)
        now = datetime.now(UTC)
        return [
            {
                "name": job.name,
                "schedule": _schedule_text(job),
                "next_fire_time": next_fire_time(job.config.schedule, now).isoformat(),
                "overlap": job.config.overlap.value,
                "catch_up": job.config.catch_up.value,
                "number_of_executions": job.config.number_of_executions,
                "source": str(job.source),
            }
            for job in loaded.jobs
        ]

    jobs = run(load())
    if json:
        print_json(jobs)
        return
    columns = ["name", "schedule", "next_fire_time", "overlap", "number_of_executions"]
    table("Jobs", columns, [[job[c] for c in columns] for job in jobs])


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="The job's name (its config['name']).")],
    project: ProjectOption = Path(),
    json: JsonOption = False,
) -> None:
    """Run a job now, outside its schedule (recorded as a manual run); waits for it."""
    from loomwork.http import job_run_json
    from loomwork.scheduler import RunOutcome

    async def trigger() -> JobRun:
        async with open_project(project) as (_app, container):
            scheduler: Scheduler = container.resolve("scheduler")
            return await scheduler.trigger(name)

    result = run(trigger())
    if json:
        print_json(job_run_json(result))
    else:
        detail = f" ({result.error})" if result.error else ""
        console.print(f"Job {name!r}: {result.outcome.value}{detail}", markup=False)
    if result.outcome is RunOutcome.FAILED:
        raise typer.Exit(1)


@jobs_app.command("runs")
def jobs_runs(
    project: ProjectOption = Path(),
    job: Annotated[str | None, typer.Option(help="Only this job's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    json: JsonOption = False,
) -> None:
    """Recorded runs, newest tick first: fire time, outcome, instance, error."""
    from loomwork.app import load_config, load_project, prepare_database
    from loomwork.http import job_run_json
    from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore

    async def load() -> list[JobRun]:
        config = load_config(project)
        prepare_database(config.database.url)
        store = SqlAlchemyScheduleStore(config.database.url)
        try:
            if job is not None and job not in {j.name for j in load_project(config.root).jobs}:
                raise NotFoundError("scheduled job", job, "see `loomwork jobs list`")
            return await store.list_runs(job, limit=limit)
        finally:
            await store.close()

    runs = run(load())
    if json:
        print_json([job_run_json(item) for item in runs])
        return
    columns = ["job", "fire_time", "outcome", "instance_id", "started_at", "finished_at", "error"]
    rows = [[job_run_json(item)[c] for c in columns] for item in runs]
    table("Job runs", columns, rows)
