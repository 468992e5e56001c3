"""Rebuilding an execution from a stored run's checkpoints, so it can go on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loomwork.workflows._codec import decode, decode_error
from loomwork.workflows._events import load_events
from loomwork.workflows._records import (
    FAILED_STEP_STATES,
    RESOLVED_STEP_STATES,
    SAME_AS_OUTPUT,
    RunRecord,
    StepRecord,
    StepState,
)
from loomwork.workflows._result import Action, StepError

if TYPE_CHECKING:
    from loomwork.workflows._execution import Execution


def restore(execution: Execution, record: RunRecord) -> None:
    """Load outputs, compensation inputs, events, errors and state from ``record``."""
    execution.state = record.state
    execution.steps = dict(record.steps)
    errors: list[tuple[float, StepError]] = []
    nodes = execution.definition.nodes
    for key, step in record.steps.items():
        if step.state in RESOLVED_STEP_STATES or step.output_json is not None:
            execution.scope.outputs[key] = decode(step.output_json)
        if step.compensate_input_json == SAME_AS_OUTPUT:
            # The very object, as in the run that stored it (output_json is set then).
            execution.compensate_inputs[key] = execution.scope.outputs[key]
        elif step.compensate_input_json is not None:
            execution.compensate_inputs[key] = decode(step.compensate_input_json)
        if step.events_json is not None:
            execution.step_events[key] = load_events(decode(step.events_json))
        errors.extend(_recorded_errors(step))
        if step.state in FAILED_STEP_STATES and key in nodes:
            execution.after_failure(nodes[key])  # re-establishes a skip in progress
    errors.sort(key=lambda pair: pair[0])
    execution.errors = [error for _, error in errors]
    target = execution.skip_to
    if isinstance(target, str) and target in execution.steps:
        execution.skip_to = None  # the run already got past the step it skipped to


def _recorded_errors(step: StepRecord) -> list[tuple[float, StepError]]:
    found: list[tuple[float, StepError]] = []
    actions: tuple[tuple[Action, str | None], ...] = (
        ("invoke", step.error_json if step.state is not StepState.WAITING else None),
        ("compensate", step.compensate_error_json),
    )
    for action, text in actions:
        if text is not None:
            found.append((step.updated_at, StepError(step.key, action, decode_error(text))))
    return found
