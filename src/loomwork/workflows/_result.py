"""What running a workflow returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from loomwork.workflows._records import RunState, StepState

Action = Literal["invoke", "compensate"]


@dataclass(frozen=True, slots=True)
class StepError:
    """One failure of a run: which step, in which action, and the exception."""

    step: str
    action: Action
    error: BaseException


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    """A run's identity and states: the run's own and each step's."""

    workflow: str
    id: str
    state: RunState
    steps: dict[str, StepState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """The outcome of ``run()``.

    ``result`` is ``None`` unless the run is ``done``; ``errors`` lists invoke and
    compensate failures in the order they happened; ``transaction`` has the states.
    """

    result: Any
    errors: list[StepError]
    transaction: TransactionInfo

    @property
    def state(self) -> RunState:
        """Shortcut for ``transaction.state``."""
        return self.transaction.state
