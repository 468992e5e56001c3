"""Compensation: what is undone, in which order, and what a failed undo does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from wf_helpers import Journal, unique

from loomwork.workflows import (
    RunState,
    StepContext,
    StepResponse,
    StepState,
    create_step,
    create_workflow,
    parallelize,
    when,
)


class BrandSystemError(Exception):
    """Stands for a third-party failure a caller wants to catch by type."""


def step_pair(journal: Journal, name: str, *, fail: Exception | None = None) -> Any:
    async def invoke(input: Any, ctx: StepContext) -> StepResponse[str]:
        journal.add(name)
        if fail is not None:
            raise fail
        return StepResponse(f"{name}-out", f"{name}-undo")

    async def compensate(data: Any, ctx: StepContext) -> None:
        journal.add(f"undo {name}", data)

    return create_step(unique(name), invoke, compensate)


async def test_failure_compensates_finished_and_failing_steps_in_reverse() -> None:
    journal = Journal()
    s1, s2 = step_pair(journal, "s1"), step_pair(journal, "s2")
    s3 = step_pair(journal, "s3", fail=RuntimeError("step3 failed"))
    never = step_pair(journal, "never")

    @create_workflow(unique("reverse"))
    def workflow(input: Any) -> None:
        s1(input)
        s2(input)
        s3(input)
        never(input)

    run = await workflow.run(throw_on_error=False)

    assert run.state is RunState.REVERTED
    assert run.result is None
    assert journal.entries == [
        ("s1", None),
        ("s2", None),
        ("s3", None),
        ("undo s3", None),  # the failing step's own compensation gets None
        ("undo s2", "s2-undo"),
        ("undo s1", "s1-undo"),
    ]
    assert run.transaction.steps[never.name] is StepState.NOT_STARTED
    assert [(e.step, e.action, str(e.error)) for e in run.errors] == [
        (s3.name, "invoke", "step3 failed")
    ]


async def test_permanent_failure_passes_its_compensation_input() -> None:
    journal = Journal()

    async def partial(input: Any, ctx: StepContext) -> None:
        StepResponse.permanent_failure("half done", compensate_input={"created": ["b1"]})

    async def undo(data: Any, ctx: StepContext) -> None:
        journal.add("undo partial", data)

    step = create_step(unique("partial"), partial, undo)

    @create_workflow(unique("partial-wf"))
    def workflow(input: Any) -> None:
        step(input)

    run = await workflow.run(throw_on_error=False)
    assert run.state is RunState.REVERTED
    assert journal.entries == [("undo partial", {"created": ["b1"]})]


async def test_skipped_steps_are_not_compensated() -> None:
    journal = Journal()
    skipped_by_response = create_step(
        unique("self-skip"), lambda input, ctx: StepResponse.skip(), _undo(journal, "self-skip")
    )
    guarded = step_pair(journal, "guarded")
    done = step_pair(journal, "done")
    failing = step_pair(journal, "failing", fail=RuntimeError("x"))

    @create_workflow(unique("skips"))
    def workflow(input: Any) -> None:
        skipped_by_response(input)
        when(input, lambda _: False).then(lambda: guarded(input))
        done(input)
        failing(input)

    run = await workflow.run(throw_on_error=False)
    assert journal.names() == ["done", "failing", "undo failing", "undo done"]
    assert run.transaction.steps[skipped_by_response.name] is StepState.SKIPPED
    assert run.transaction.steps[guarded.name] is StepState.SKIPPED


def _undo(journal: Journal, name: str) -> Any:
    async def compensate(data: Any, ctx: StepContext) -> None:
        journal.add(f"undo {name}", data)

    return compensate


async def test_parallel_siblings_compensate_concurrently() -> None:
    both_undoing = asyncio.Event()
    undoing: list[str] = []

    def sibling(name: str) -> Any:
        async def compensate(data: Any, ctx: StepContext) -> None:
            undoing.append(name)
            if len(undoing) == 2:
                both_undoing.set()
            await asyncio.wait_for(both_undoing.wait(), timeout=5)

        return create_step(unique(name), lambda input, ctx: name, compensate)

    left, right = sibling("left"), sibling("right")
    failing = create_step(unique("boom"), _fail_with(RuntimeError("after the pair")))

    @create_workflow(unique("parallel-undo"))
    def workflow(input: Any) -> None:
        parallelize(left(input), right(input))
        failing(input)

    run = await workflow.run(throw_on_error=False)
    assert run.state is RunState.REVERTED
    assert sorted(undoing) == ["left", "right"]


def _fail_with(error: Exception) -> Any:
    async def invoke(input: Any, ctx: StepContext) -> None:
        raise error

    return invoke


async def test_a_failing_compensation_does_not_stop_the_others() -> None:
    journal = Journal()
    first = step_pair(journal, "first")

    async def broken_undo(data: Any, ctx: StepContext) -> None:
        raise OSError("undo failed")

    middle = create_step(unique("middle"), lambda input, ctx: "m", broken_undo)
    failing = step_pair(journal, "last", fail=ValueError("last failed"))

    @create_workflow(unique("undo-fails"))
    def workflow(input: Any) -> None:
        first(input)
        middle(input)
        failing(input)

    run = await workflow.run(throw_on_error=False)
    assert run.state is RunState.FAILED
    assert journal.names() == ["first", "last", "undo last", "undo first"]
    assert [(e.step, e.action, type(e.error)) for e in run.errors] == [
        (failing.name, "invoke", ValueError),
        (middle.name, "compensate", OSError),
    ]
    assert run.transaction.steps[middle.name] is StepState.COMPENSATION_FAILED


async def test_throw_on_error_raises_the_original_exception_after_compensation() -> None:
    journal = Journal()
    first = step_pair(journal, "first")
    failing = step_pair(journal, "remote", fail=BrandSystemError("brand system down"))
    name = unique("throwing")

    @create_workflow(name)
    def workflow(input: Any) -> None:
        first(input)
        failing(input)

    with pytest.raises(BrandSystemError, match="brand system down") as caught:
        await workflow.run()
    assert journal.names()[-1] == "undo first"  # compensation finished before raising
    notes = " ".join(caught.value.__notes__)
    assert name in notes
    assert failing.name in notes
