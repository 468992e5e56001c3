"""Workflows used as steps of other workflows."""

from __future__ import annotations

from typing import Any

import pytest
from wf_helpers import Journal, unique

from loomwork.workflows import (
    RunState,
    StepContext,
    StepResponse,
    WorkflowResponse,
    create_step,
    create_workflow,
)


def journaled(journal: Journal, name: str, fail: bool = False) -> Any:
    async def invoke(input: Any, ctx: StepContext) -> StepResponse[str]:
        journal.add(name, input)
        if fail:
            raise RuntimeError(f"{name} failed")
        return StepResponse(f"{name}-out", f"{name}-undo")

    async def compensate(data: Any, ctx: StepContext) -> None:
        journal.add(f"undo {name}", data)

    return create_step(unique(name), invoke, compensate)


def child_workflow(journal: Journal, *, fail: bool = False) -> Any:
    c1 = journaled(journal, "c1")
    c2 = journaled(journal, "c2", fail=fail)

    @create_workflow(unique("child"))
    def child(input: Any) -> WorkflowResponse:
        first = c1(input)
        return WorkflowResponse({"child": c2(first)})

    return child


async def test_child_result_becomes_the_parent_step_output() -> None:
    journal = Journal()
    child = child_workflow(journal)
    p1 = journaled(journal, "p1")

    @create_workflow(unique("parent"))
    def parent(input: Any) -> WorkflowResponse:
        before = p1(input)
        return WorkflowResponse(child.run_as_step(input=before))

    run = await parent.run("in")
    assert run.result == {"child": "c2-out"}
    assert journal.names() == ["p1", "c1", "c2"]


async def test_a_failing_child_fails_the_parent_step() -> None:
    journal = Journal()
    child = child_workflow(journal, fail=True)
    p1 = journaled(journal, "p1")
    never = journaled(journal, "never")

    @create_workflow(unique("parent-child-fails"))
    def parent(input: Any) -> None:
        p1(input)
        child.run_as_step(input=input)
        never(input)

    with pytest.raises(RuntimeError, match="c2 failed"):
        await parent.run("in")
    # The child undid itself, then the parent undid its own earlier step.
    assert journal.names() == ["p1", "c1", "c2", "undo c2", "undo c1", "undo p1"]


async def test_parent_failure_after_the_child_compensates_the_child_in_reverse() -> None:
    journal = Journal()
    child = child_workflow(journal)
    p1 = journaled(journal, "p1")
    late = journaled(journal, "late", fail=True)

    @create_workflow(unique("parent-fails-late"))
    def parent(input: Any) -> None:
        p1(input)
        child.run_as_step(input=input)
        late(input)

    run = await parent.run("in", throw_on_error=False)
    assert run.state is RunState.REVERTED
    assert journal.entries[-4:] == [
        ("undo late", None),
        ("undo c2", "c2-undo"),
        ("undo c1", "c1-undo"),
        ("undo p1", "p1-undo"),
    ]
