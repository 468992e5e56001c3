"""The schedule-store port: where ticks are claimed and job runs are recorded.

Implementations: :mod:`loomwork.scheduler.stores.memory` (the reference, in-process) and
:mod:`loomwork.scheduler.stores.sqlalchemy` (SQLite and PostgreSQL). Both must pass
``tests/scheduler/store_contract.py``.

Every datetime passed in or returned is timezone-aware UTC with microsecond precision; a
store keeps instants exactly. Stores never read the wall clock: the scheduler passes
``now``, so tests can move time.

Leases: a ``running`` record carries ``lease_until``, renewed by its instance's heartbeat.
A record still ``running`` after its lease has passed belongs to an instance that died (or
lost its database for longer than the lease). It never blocks a later tick, and the next
:meth:`ScheduleStore.claim` of that job marks it ``failed`` with an error naming the
instance, so the history shows what happened.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from loomwork.scheduler._records import JobRun, RunOutcome

ABANDONED_PREFIX = "abandoned: instance '"
ABANDONED_SUFFIX = "' stopped renewing its lease; it probably died mid-run"


def abandoned_error(instance_id: str) -> str:
    """The error text a store writes on a ``running`` record whose lease expired."""
    return f"{ABANDONED_PREFIX}{instance_id}{ABANDONED_SUFFIX}"


class ScheduleStore(ABC):
    """Claims ticks and keeps the record of every run.

    Implementers must make each method atomic, and must serialise :meth:`claim` and
    :meth:`start_manual` per job across every process sharing the store, so that the
    overlap and limit checks below see every earlier claim.
    """

    @abstractmethod
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
        """Claim the scheduled tick ``(job, fire_time)`` for ``instance_id``.

        In one transaction: first mark the job's expired ``running`` records ``failed``
        (error :func:`abandoned_error`, ``finished_at = now``); then decide the outcome:

        * ``SKIPPED_LIMIT`` when ``max_executions`` is set and the job has at least that
          many non-manual records whose outcome :attr:`RunOutcome.executed`;
        * else ``SKIPPED_OVERLAP`` when ``skip_if_running`` and another record of the job
          is ``running`` with ``lease_until > now``;
        * else ``RUNNING``, with ``lease_until``.

        Then insert the record (``started_at = now``; skipped records also get
        ``finished_at = now`` and no lease) unless ``(job, fire_time)`` already exists.
        Returns the inserted record, or ``None`` when the tick was already recorded (by any
        instance): exactly one concurrent caller gets a record for a given tick.
        """

    @abstractmethod
    async def start_manual(
        self,
        job: str,
        *,
        instance_id: str,
        now: datetime,
        lease_until: datetime,
        skip_if_running: bool,
    ) -> JobRun | None:
        """Record a manual run of ``job`` asked for at ``now``, outcome ``RUNNING``.

        Expired ``running`` records are marked as in :meth:`claim`. Returns ``None``, and
        records nothing, when ``skip_if_running`` and a live ``running`` record exists.
        The record has ``manual=True`` and ``fire_time = now``, or the first free
        microsecond after it when a record already holds that instant.
        """

    @abstractmethod
    async def finish(
        self,
        job: str,
        fire_time: datetime,
        *,
        outcome: RunOutcome,
        finished_at: datetime,
        error: str | None = None,
    ) -> None:
        """Set a run's final ``outcome``, ``finished_at`` and ``error``; clear its lease.

        Applies whatever the stored outcome is, so a run that was marked abandoned while
        its instance was cut off still ends with what really happened. Unknown runs are
        ignored.
        """

    @abstractmethod
    async def renew_lease(
        self, job: str, fire_time: datetime, *, instance_id: str, lease_until: datetime
    ) -> bool:
        """Extend the lease of a ``running`` record held by ``instance_id``.

        Returns False (and changes nothing) when the record is not ``running`` or belongs
        to another instance.
        """

    @abstractmethod
    async def get_run(self, job: str, fire_time: datetime) -> JobRun | None:
        """The record of ``(job, fire_time)``, or ``None``."""

    @abstractmethod
    async def list_runs(
        self, job: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[JobRun]:
        """Records of one job (or all), newest ``fire_time`` first, then by job name."""

    @abstractmethod
    async def last_fire_time(self, job: str) -> datetime | None:
        """The latest ``fire_time`` of the job's non-manual records, whatever the outcome."""

    @abstractmethod
    async def has_running(self, job: str, now: datetime) -> bool:
        """True when a record of ``job`` is ``running`` with ``lease_until > now``."""

    @abstractmethod
    async def count_executions(self, job: str) -> int:
        """How many non-manual records of ``job`` have an :attr:`RunOutcome.executed` outcome."""

    @abstractmethod
    async def prune_runs(self, job: str, *, finished_before: datetime) -> int:
        """Delete the job's finished records that finished before ``finished_before``.

        Records still ``running`` stay, and so does the job's latest non-manual record
        whatever its age (:meth:`last_fire_time` reads it, so a restarted scheduler knows
        which ticks it missed). Returns how many records were deleted. A job with an
        execution limit must not be pruned: :meth:`count_executions` counts its records.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook, the memory store holds nothing
        """Release connections; the store is not used afterwards."""
