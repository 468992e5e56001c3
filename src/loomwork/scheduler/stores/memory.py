"""In-process schedule store: the reference implementation of the port."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from typing_extensions import override

from loomwork.scheduler._records import JobRun, RunOutcome
from loomwork.scheduler.stores._port import ScheduleStore, abandoned_error

_ONE_US = timedelta(microseconds=1)


class MemoryScheduleStore(ScheduleStore):
    """Keeps run records in a dict; nothing survives the process.

    Several schedulers in one event loop may share it, which is how the unit tests model
    several instances. No method awaits, so each is atomic within the loop.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, dict[datetime, JobRun]] = {}

    @override
    async def claim(
        self,
        job: str,
        fire_time: datetime,
        *,
        instance_id: str,
        now: datetime,
        lease_until: datetime,
        skip_if_running: bool,
        max_executions: int | None,
    ) -> JobRun | None:
        runs = self._expire(job, now)
        if fire_time in runs:
            return None
        outcome = RunOutcome.RUNNING
        if max_executions is not None and self._executions(job) >= max_executions:
            outcome = RunOutcome.SKIPPED_LIMIT
        elif skip_if_running and self._live(job, now):
            outcome = RunOutcome.SKIPPED_OVERLAP
        running = outcome is RunOutcome.RUNNING
        run = JobRun(
            job=job,
            fire_time=fire_time,
            instance_id=instance_id,
            started_at=now,
            outcome=outcome,
            finished_at=None if running else now,
            lease_until=lease_until if running else None,
        )
        runs[fire_time] = run
        return run

    @override
    async def start_manual(
        self,
        job: str,
        *,
        instance_id: str,
        now: datetime,
        lease_until: datetime,
        skip_if_running: bool,
    ) -> JobRun | None:
        runs = self._expire(job, now)
        if skip_if_running and self._live(job, now):
            return None
        fire_time = now
        while fire_time in runs:
            fire_time += _ONE_US
        run = JobRun(
            job=job,
            fire_time=fire_time,
            instance_id=instance_id,
            started_at=now,
            outcome=RunOutcome.RUNNING,
            lease_until=lease_until,
            manual=True,
        )
        runs[fire_time] = run
        return run

    @override
    async def finish(
        self,
        job: str,
        fire_time: datetime,
        *,
        outcome: RunOutcome,
        finished_at: datetime,
        error: str | None = None,
    ) -> None:
        runs = self._jobs.get(job, {})
        run = runs.get(fire_time)
        if run is not None:
            runs[fire_time] = replace(
                run, outcome=outcome, finished_at=finished_at, error=error, lease_until=None
            )

    @override
    async def renew_lease(
        self, job: str, fire_time: datetime, *, instance_id: str, lease_until: datetime
    ) -> bool:
        runs = self._jobs.get(job, {})
        run = runs.get(fire_time)
        if run is None or run.outcome is not RunOutcome.RUNNING or run.instance_id != instance_id:
            return False
        runs[fire_time] = replace(run, lease_until=lease_until)
        return True

    @override
    async def get_run(self, job: str, fire_time: datetime) -> JobRun | None:
        return self._jobs.get(job, {}).get(fire_time)

    @override
    async def list_runs(
        self, job: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[JobRun]:
        groups = self._jobs.values() if job is None else [self._jobs.get(job, {})]
        runs = [run for group in groups for run in group.values()]
        runs.sort(key=lambda run: run.job)
        runs.sort(key=lambda run: run.fire_time, reverse=True)
        return runs[offset : offset + limit]

    @override
    async def last_fire_time(self, job: str) -> datetime | None:
        return self._latest_scheduled(job)

    @override
    async def has_running(self, job: str, now: datetime) -> bool:
        return self._live(job, now)

    @override
    async def count_executions(self, job: str) -> int:
        return self._executions(job)

    @override
    async def prune_runs(self, job: str, *, finished_before: datetime) -> int:
        runs = self._jobs.get(job, {})
        latest = self._latest_scheduled(job)
        old = [
            fire_time
            for fire_time, run in runs.items()
            if run.finished_at is not None
            and run.finished_at < finished_before
            and run.outcome is not RunOutcome.RUNNING
            and not (fire_time == latest and not run.manual)
        ]
        for fire_time in old:
            del runs[fire_time]
        return len(old)

    def _latest_scheduled(self, job: str) -> datetime | None:
        times = [run.fire_time for run in self._jobs.get(job, {}).values() if not run.manual]
        return max(times, default=None)

    def _live(self, job: str, now: datetime) -> bool:
        return any(
            run.outcome is RunOutcome.RUNNING
            and run.lease_until is not None
            and run.lease_until > now
            for run in self._jobs.get(job, {}).values()
        )

    def _executions(self, job: str) -> int:
        return sum(
            1 for run in self._jobs.get(job, {}).values() if not run.manual and run.outcome.executed
        )

    def _expire(self, job: str, now: datetime) -> dict[datetime, JobRun]:
        runs = self._jobs.setdefault(job, {})
        for key, run in list(runs.items()):
            if run.outcome is RunOutcome.RUNNING and (
                run.lease_until is None or run.lease_until <= now
            ):
                runs[key] = replace(
                    run,
                    outcome=RunOutcome.FAILED,
                    finished_at=now,
                    error=abandoned_error(run.instance_id),
                    lease_until=None,
                )
        return runs
