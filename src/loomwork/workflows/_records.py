"""Run and step records: what an execution store keeps, and the state names.

Payloads (input, outputs, compensation inputs, errors, results) are held as JSON text so
that a store never has to understand them and serialisation happens once, at checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RunState(StrEnum):
    """Lifecycle of one workflow run (a transaction)."""

    NOT_STARTED = "not_started"
    INVOKING = "invoking"
    WAITING_TO_COMPENSATE = "waiting_to_compensate"
    COMPENSATING = "compensating"
    DONE = "done"
    REVERTED = "reverted"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True for the terminal states ``done``, ``reverted`` and ``failed``."""
        return self in _FINISHED_RUN_STATES


_FINISHED_RUN_STATES = frozenset({RunState.DONE, RunState.REVERTED, RunState.FAILED})


class StepState(StrEnum):
    """Lifecycle of one step within a run."""

    NOT_STARTED = "not_started"
    INVOKING = "invoking"
    WAITING = "waiting"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    COMPENSATING = "compensating"
    WAITING_COMPENSATION = "waiting_compensation"
    REVERTED = "reverted"
    COMPENSATION_FAILED = "compensation_failed"


#: Step states whose outcome is settled: a resumed run does not run the step again.
RESOLVED_STEP_STATES = frozenset({StepState.DONE, StepState.SKIPPED})
#: Step states of a permanent failure.
FAILED_STEP_STATES = frozenset({StepState.FAILED, StepState.TIMED_OUT})


SAME_AS_OUTPUT = "=output"
"""``compensate_input_json`` of a step whose compensation input is its output itself (a
step that named none, or the same object): the output is stored once. The text is not
JSON, so no encoded value reads as it."""


@dataclass(slots=True)
class StepRecord:
    """The checkpointed outcome of one step of one run, keyed by (run, ``key``).

    ``wake_at`` is set while the step waits for a retry interval to pass. ``events_json``
    holds the events the step emitted, staged until the run succeeds.
    ``compensate_input_json`` may be :data:`SAME_AS_OUTPUT`.
    """

    key: str
    state: StepState
    attempt: int = 0
    output_json: str | None = None
    compensate_input_json: str | None = None
    error_json: str | None = None
    compensate_error_json: str | None = None
    wake_at: float | None = None
    updated_at: float = 0.0
    events_json: str | None = None


@dataclass(slots=True)
class RunRecord:
    """One stored workflow run.

    Ownership: a process that drives the run holds ``owner`` until ``lease_until``.
    ``wake_at`` is when the run next needs a driver: ``now`` while it is being driven (so an
    expired lease makes it claimable), a future time while a step waits for a retry
    interval, and ``None`` while it waits for an outside signal (``set_step_success``) or
    has finished.

    ``outbox_json`` marks the events of a run that succeeded as not yet published: it
    names the steps whose ``events_json`` hold them (``{"steps": [...]}``; a list is the
    events themselves). It is written together with the ``done`` state and cleared after
    publishing, so a crash in between loses nothing.
    """

    workflow: str
    transaction_id: str
    state: RunState
    input_json: str = "null"
    context_json: str = "{}"
    result_json: str | None = None
    errors_json: str = "[]"
    owner: str | None = None
    lease_until: float | None = None
    wake_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    expires_at: float | None = None
    outbox_json: str | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
