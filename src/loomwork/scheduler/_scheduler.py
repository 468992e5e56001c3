"""The scheduler: fires each job's ticks, once across every instance sharing a store."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from loomwork.container import Container
from loomwork.errors import ConflictError, DefinitionError, NotFoundError
from loomwork.scheduler._clock import Clock, SystemClock
from loomwork.scheduler._config import CatchUpPolicy, JobConfig, OverlapPolicy, parse_job_config
from loomwork.scheduler._errors import JobAlreadyRunningError
from loomwork.scheduler._execution import Handler, RunContext, execute, logger
from loomwork.scheduler._records import JobRun, RunOutcome
from loomwork.scheduler._schedule import latest_fire_time, next_fire_time
from loomwork.scheduler.stores._port import ScheduleStore

__all__ = ["Scheduler"]

_IDLE = timedelta(seconds=60)
_PRUNE_EVERY = timedelta(hours=1)


@dataclass(slots=True)
class _Job:
    config: JobConfig
    handler: Handler
    added_at: datetime
    cursor: datetime | None = None  # the last tick this instance dealt with
    next_due: datetime | None = None
    finished: bool = False  # number_of_executions used up
    pruned_at: datetime | None = None  # when this instance last pruned the job's records
    hold: asyncio.Lock = field(default_factory=asyncio.Lock)

    def move_to(self, tick: datetime) -> None:
        self.cursor = tick
        self.next_due = next_fire_time(self.config.schedule, tick)


class Scheduler:
    """Runs jobs on their schedules; any number of instances may share one store.

    Each tick runs at most once across all instances: whoever records ``(job, fire
    time)`` in the store first runs it. A tick that comes while the job's previous run
    still goes (on any instance) is recorded ``skipped_overlap`` unless the job allows
    overlap. Ticks missed while no instance ran (or while the store was unreachable) are
    coalesced into one catch-up run at the latest missed tick (``catch_up="coalesce"``,
    the default) or dropped (``"skip"``: a tick is missed when it is handled more than
    ``misfire_grace`` late). A failing handler is recorded ``failed`` and the schedule
    goes on. Store errors are logged and retried with backoff; the loop never stops on
    its own.

    ``clock`` defaults to the wall clock, ``container`` to an empty one, ``instance_id``
    to ``host:pid:random``. Durations take seconds or a timedelta. ``lease`` (30 s): how
    long a run's claim stays live without a heartbeat (renewed every third of it); a run
    of an instance that died blocks overlapping ticks for at most this long.
    ``misfire_grace`` (5 s): see ``catch_up="skip"``. ``stop_grace`` (30 s): how long
    :meth:`stop` waits for running handlers. ``max_backoff`` (30 s): the longest pause
    between retries while the store fails (1 s, 2 s, 4 s, ... up to it).
    ``run_retention`` (7 days): how long a finished run's record is kept; each instance
    deletes older ones about hourly, keeping a job's latest scheduled record (``None``
    keeps everything). Jobs with ``number_of_executions`` keep every record: the limit
    counts them.
    """

    def __init__(
        self,
        store: ScheduleStore,
        clock: Clock | None = None,
        container: Container | None = None,
        instance_id: str | None = None,
        *,
        lease: timedelta | float = 30.0,
        misfire_grace: timedelta | float = 5.0,
        stop_grace: timedelta | float = 30.0,
        max_backoff: timedelta | float = 30.0,
        run_retention: timedelta | float | None = timedelta(days=7),
    ) -> None:
        self._context = RunContext(
            store=store,
            clock=clock or SystemClock(),
            container=container if container is not None else Container(),
            instance_id=instance_id or _default_instance_id(),
            lease=_duration(lease),
        )
        self._misfire_grace = _duration(misfire_grace)
        self._stop_grace = _duration(stop_grace)
        self._max_backoff = _duration(max_backoff)
        self._run_retention = None if run_retention is None else _duration(run_retention)
        self._jobs: dict[str, _Job] = {}
        self._tasks: set[asyncio.Task[JobRun]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._stopping = False

    @property
    def instance_id(self) -> str:
        """The id written on every run this instance claims."""
        return self._context.instance_id

    @property
    def store(self) -> ScheduleStore:
        """The store holding the claims and run records."""
        return self._context.store

    @property
    def jobs(self) -> Mapping[str, JobConfig]:
        """The registered jobs by name."""
        return {name: job.config for name, job in self._jobs.items()}

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._loop is not None and not self._loop.done()

    def add_job(self, handler: Handler, config: Mapping[str, Any] | JobConfig) -> JobConfig:
        """Register ``handler`` under ``config`` (a ``config`` dict or a :class:`JobConfig`).

        Only ticks after this moment are due, plus one catch-up run when the store shows
        ticks missed since the job's last recorded one. Raises
        :class:`~loomwork.errors.DefinitionError` for an invalid config, a handler that is
        not callable, or a name that is already registered.
        """
        parsed = config if isinstance(config, JobConfig) else parse_job_config(config)
        if not callable(handler):
            raise DefinitionError(f"scheduled job {parsed.name!r}: handler is not callable")
        if parsed.name in self._jobs:
            raise DefinitionError(
                f"scheduled job {parsed.name!r} is registered twice; job names must be unique"
            )
        self._jobs[parsed.name] = _Job(parsed, handler, self._context.clock.now())
        self._wakeup.set()
        return parsed

    async def run_pending(self) -> list[JobRun]:
        """Fire every tick due at ``clock.now()`` and wait for the runs this call started.

        The drain step for tests and one-shot use (without :meth:`start`). Returns the
        final record of each tick this instance recorded, skipped ones included; ticks
        another instance recorded are left out. Store errors propagate.
        """
        skipped, started = await self._fire_due(self._context.clock.now())
        finished = await asyncio.gather(*started)
        return sorted([*skipped, *finished], key=lambda run: (run.fire_time, run.job))

    async def trigger(self, name: str, *, wait: bool = True) -> JobRun:
        """Run job ``name`` now, outside its schedule; returns its record.

        With ``wait`` (the default) the final record, else the ``running`` one while the
        run goes on in the background. Manual runs do not count towards
        ``number_of_executions``. Raises :class:`~loomwork.errors.NotFoundError` for an
        unknown job and :class:`JobAlreadyRunningError` when the job is running and its
        overlap policy is ``skip``.
        """
        job = self._jobs.get(name)
        if job is None:
            known = ", ".join(sorted(self._jobs)) or "none"
            raise NotFoundError("scheduled job", name, f"registered jobs: {known}")
        now = self._context.clock.now()
        run = await self._context.store.start_manual(
            name,
            instance_id=self.instance_id,
            now=now,
            lease_until=now + self._context.lease,
            skip_if_running=job.config.overlap is OverlapPolicy.SKIP,
        )
        if run is None:
            raise JobAlreadyRunningError(name)
        logger.info("job %r: manual run started by %s", name, self.instance_id)
        task = self._spawn(job, run)
        return await task if wait else run

    async def start(self) -> None:
        """Start the scheduling loop in the background; returns at once."""
        if self.running:
            raise ConflictError("the scheduler is already started; call stop() first")
        self._stopping = False
        self._loop = asyncio.create_task(self._run_loop(), name="loomwork scheduler")

    async def stop(self, grace: timedelta | float | None = None) -> None:
        """Stop firing ticks, then wait up to ``grace`` for running handlers.

        Handlers still going after the grace period (``stop_grace`` by default) are
        cancelled and recorded ``failed``.
        """
        self._stopping = True
        self._wakeup.set()
        if self._loop is not None:
            await self._loop
            self._loop = None
        await self._drain(self._stop_grace if grace is None else _duration(grace))

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _run_loop(self) -> None:
        clock, failures = self._context.clock, 0
        while not self._stopping:
            now = clock.now()
            try:
                await self._fire_due(now)
            except Exception:
                failures += 1
                delay = min(self._max_backoff, timedelta(seconds=0.5 * 2 ** min(failures, 16)))
                logger.exception(
                    "scheduler %s: store error (%d in a row); retrying in %.1fs",
                    self.instance_id,
                    failures,
                    delay.total_seconds(),
                )
                await self._pause(now + delay)
                continue
            failures = 0
            await self._pause(self._next_wake(now))

    def _next_wake(self, now: datetime) -> datetime:
        dues = [job.next_due for job in self._jobs.values() if not job.finished]
        if any(due is None for due in dues):
            return now
        return min((due for due in dues if due is not None), default=now + _IDLE)

    async def _pause(self, until: datetime) -> None:
        sleeper = asyncio.ensure_future(self._context.clock.sleep_until(until))
        waker = asyncio.ensure_future(self._wakeup.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
        self._wakeup.clear()

    async def _fire_due(self, now: datetime) -> tuple[list[JobRun], list[asyncio.Task[JobRun]]]:
        due = [
            job
            for job in self._jobs.values()
            if not job.finished and (job.next_due is None or job.next_due <= now)
        ]
        outcomes = await asyncio.gather(
            *(self._fire_job(job, now) for job in due), return_exceptions=True
        )
        skipped: list[JobRun] = []
        started: list[asyncio.Task[JobRun]] = []
        errors: list[BaseException] = []
        for outcome in outcomes:
            if isinstance(outcome, asyncio.Task):
                started.append(outcome)
            elif isinstance(outcome, JobRun):
                skipped.append(outcome)
            elif isinstance(outcome, BaseException):
                errors.append(outcome)
        if errors:
            raise errors[0]
        return skipped, started

    async def _fire_job(self, job: _Job, now: datetime) -> JobRun | asyncio.Task[JobRun] | None:
        async with job.hold:
            await self._load_cursor(job)
            tick = None if job.finished else self._due_tick(job, now)
            if tick is None:
                return None
            run = await self._context.store.claim(
                job.config.name,
                tick,
                instance_id=self.instance_id,
                now=now,
                lease_until=now + self._context.lease,
                skip_if_running=job.config.overlap is OverlapPolicy.SKIP,
                max_executions=job.config.number_of_executions,
            )
            job.move_to(tick)
            handled = self._handle_claim(job, tick, run)
            await self._prune_if_due(job, now)
            return handled

    async def _prune_if_due(self, job: _Job, now: datetime) -> None:
        """Delete the job's records older than the retention, at most once an interval."""
        retention, name = self._run_retention, job.config.name
        if retention is None or job.config.number_of_executions is not None:
            return
        if job.pruned_at is not None and now - job.pruned_at < _PRUNE_EVERY:
            return
        job.pruned_at = now
        try:
            deleted = await self._context.store.prune_runs(name, finished_before=now - retention)
        except Exception:
            # The tick is claimed and running; old records can wait for the next try.
            logger.warning("job %r: could not delete old run records", name, exc_info=True)
            return
        if deleted:
            logger.info("job %r: deleted %d run records older than %s", name, deleted, retention)

    async def _load_cursor(self, job: _Job) -> None:
        if job.cursor is not None:
            return
        store, name = self._context.store, job.config.name
        limit = job.config.number_of_executions
        if limit is not None and await store.count_executions(name) >= limit:
            job.finished = True
        last = await store.last_fire_time(name)
        job.move_to(job.added_at if last is None else last)

    def _due_tick(self, job: _Job, now: datetime) -> datetime | None:
        assert job.cursor is not None
        if job.next_due is None or job.next_due > now:
            return None
        tick = latest_fire_time(job.config.schedule, job.cursor, now)
        if tick is None:
            return None
        if tick != job.next_due:
            logger.info(
                "job %r: ticks from %s to %s were missed",
                job.config.name,
                job.next_due.isoformat(),
                tick.isoformat(),
            )
        if job.config.catch_up is CatchUpPolicy.SKIP and now - tick > self._misfire_grace:
            logger.info("job %r: tick %s dropped (catch_up='skip')", job.config.name, tick)
            job.move_to(tick)
            return None
        return tick

    def _handle_claim(
        self, job: _Job, tick: datetime, run: JobRun | None
    ) -> JobRun | asyncio.Task[JobRun] | None:
        name = job.config.name
        if run is None:
            logger.debug("job %r: tick %s taken by another instance", name, tick)
            return None
        if run.outcome is RunOutcome.RUNNING:
            return self._spawn(job, run)
        if run.outcome is RunOutcome.SKIPPED_LIMIT:
            job.finished = True
            logger.info("job %r: number_of_executions reached; the job stops", name)
        else:
            logger.info("job %r: tick %s skipped, the previous run still goes", name, tick)
        return run

    def _spawn(self, job: _Job, run: JobRun) -> asyncio.Task[JobRun]:
        task = asyncio.create_task(
            execute(self._context, job.handler, run), name=f"job {run.job} {run.fire_time}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drain(self, grace: timedelta) -> None:
        pending: set[asyncio.Task[Any]] = {task for task in self._tasks if not task.done()}
        if not pending:
            return
        deadline = asyncio.ensure_future(
            self._context.clock.sleep_until(self._context.clock.now() + grace)
        )
        while pending and not deadline.done():
            _, pending = await asyncio.wait(
                pending | {deadline}, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(deadline)
        deadline.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(deadline, *pending, return_exceptions=True)


def _duration(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


def _default_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
