"""The record of one tick of one job, as the schedule stores keep it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["JobRun", "RunOutcome"]


class RunOutcome(StrEnum):
    """What became of a tick."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED_OVERLAP = "skipped_overlap"
    """The tick came while an earlier run of the job still went (overlap policy ``skip``)."""
    SKIPPED_LIMIT = "skipped_limit"
    """The job had used up its ``number_of_executions``; it stops after this tick."""

    @property
    def executed(self) -> bool:
        """True when the handler ran (or runs) for this tick."""
        return self in _EXECUTED


_EXECUTED = frozenset({RunOutcome.RUNNING, RunOutcome.SUCCEEDED, RunOutcome.FAILED})
EXECUTED_OUTCOMES = tuple(sorted(outcome.value for outcome in _EXECUTED))


@dataclass(frozen=True, slots=True)
class JobRun:
    """One tick of one job: claimed by ``instance_id`` at ``started_at``.

    ``(job, fire_time)`` is unique across all instances. ``fire_time`` is the scheduled
    instant (for a manual run, the moment it was asked for). ``lease_until`` is set while
    the run goes and is renewed by its instance's heartbeat; a ``running`` record whose
    lease has passed belongs to a dead instance and no longer blocks later ticks.
    """

    job: str
    fire_time: datetime
    instance_id: str
    started_at: datetime
    outcome: RunOutcome
    finished_at: datetime | None = None
    error: str | None = None
    lease_until: datetime | None = None
    manual: bool = False
