"""The compensation planner: which step uses to undo, in which order. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from loomwork.workflows._records import StepState

#: States of a step that ran (or may have run) and so must be undone.
NEEDS_COMPENSATION = frozenset(
    {
        StepState.DONE,
        StepState.FAILED,
        StepState.TIMED_OUT,
        StepState.WAITING,
        StepState.INVOKING,
        StepState.COMPENSATING,
        StepState.WAITING_COMPENSATION,
    }
)


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


N = TypeVar("N", bound=_Keyed)


def plan_compensation(
    stages: Sequence[Sequence[N]], states: Mapping[str, StepState]
) -> list[list[N]]:
    """Groups of steps to compensate, last stage first.

    Steps of one group (parallel siblings) are compensated concurrently. Skipped,
    never-started and already compensated steps are left out.
    """
    plan: list[list[N]] = []
    for stage in reversed(stages):
        group = [node for node in stage if states.get(node.key) in NEEDS_COMPENSATION]
        if group:
            plan.append(group)
    return plan
