"""Execution semantics: order, concurrency, results, errors, retries, timeouts, when."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from wf_helpers import FakeClock, Journal, unique

from loomwork.container import Container
from loomwork.errors import StepTimeoutError
from loomwork.workflows import (
    RunState,
    StepContext,
    StepResponse,
    StepState,
    WorkflowEngine,
    WorkflowResponse,
    create_step,
    create_workflow,
    parallelize,
    transform,
    when,
)


def recording_step(journal: Journal, name: str, output: Any = None) -> Any:
    async def invoke(input: Any, ctx: StepContext) -> Any:
        journal.add(name, input)
        return StepResponse(output if output is not None else {"from": name}, name)

    async def compensate(data: Any, ctx: StepContext) -> None:
        journal.add(f"undo {name}", data)

    return create_step(unique(name), invoke, compensate)


async def test_steps_run_in_the_order_written_and_results_resolve_deeply() -> None:
    journal = Journal()
    first, second, third = (recording_step(journal, n) for n in ("a", "b", "c"))

    @create_workflow(unique("ordered"))
    def workflow(input: Any) -> WorkflowResponse:
        a = first(input)
        b = second(a)
        c = third(b)
        return WorkflowResponse({"all": [a, b, c], "literal": 7, "nested": {"c": c["from"]}})

    run = await workflow(Container()).run({"start": True})

    assert journal.names() == ["a", "b", "c"]
    assert journal.entries[0] == ("a", {"start": True})
    assert journal.entries[1] == ("b", {"from": "a"})
    assert run.state is RunState.DONE
    assert run.result == {
        "all": [{"from": "a"}, {"from": "b"}, {"from": "c"}],
        "literal": 7,
        "nested": {"c": "c"},
    }
    assert run.errors == []


async def test_plain_def_steps_and_plain_return_values_work() -> None:
    def double(input: int, ctx: StepContext) -> int:
        return input * 2

    step = create_step(unique("double"), double)

    @create_workflow(unique("plain"))
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    run = await workflow.run(21, container=Container())
    assert run.result == 42


async def test_decorator_forms_of_step_and_compensation() -> None:
    journal = Journal()
    name = unique("decorated")

    @create_step(name)
    async def decorated(input: Any, ctx: StepContext) -> StepResponse[str]:
        return StepResponse("out", "undo-data")

    @decorated.compensate
    async def undo(data: Any, ctx: StepContext) -> None:
        journal.add("undo", data)

    fail = create_step(unique("fail"), _raise("boom"))

    @create_workflow(unique("decorated-wf"))
    def workflow(input: Any) -> None:
        decorated(input)
        fail(input)

    run = await workflow.run(throw_on_error=False)
    assert run.state is RunState.REVERTED
    assert journal.entries == [("undo", "undo-data")]


def _raise(message: str, kind: type[Exception] = RuntimeError) -> Any:
    async def invoke(input: Any, ctx: StepContext) -> Any:
        raise kind(message)

    return invoke


async def test_only_parallelize_runs_siblings_concurrently() -> None:
    started: list[str] = []
    both_started = asyncio.Event()

    def waiter(name: str) -> Any:
        async def invoke(input: Any, ctx: StepContext) -> str:
            started.append(name)
            if len(started) == 2:
                both_started.set()
            # Each sibling finishes only once the other has started: proof of concurrency.
            await asyncio.wait_for(both_started.wait(), timeout=5)
            return name

        return create_step(unique(name), invoke)

    left, right = waiter("left"), waiter("right")
    after = create_step(unique("after"), lambda input, ctx: input)

    @create_workflow(unique("parallel"))
    def workflow(input: Any) -> WorkflowResponse:
        a, b = parallelize(left(input), right(input))
        return WorkflowResponse(after([a, b]))

    run = await workflow.run()
    assert run.result == ["left", "right"]
    assert sorted(started) == ["left", "right"]


async def test_sequential_steps_do_not_overlap() -> None:
    running: list[str] = []
    overlaps: list[str] = []

    def tracked(name: str) -> Any:
        async def invoke(input: Any, ctx: StepContext) -> None:
            if running:
                overlaps.append(name)
            running.append(name)
            await asyncio.sleep(0.001)
            running.remove(name)

        return create_step(unique(name), invoke)

    one, two = tracked("one"), tracked("two")

    @create_workflow(unique("sequential"))
    def workflow(input: Any) -> None:
        one(input)
        two(input)

    await workflow.run()
    assert overlaps == []


async def test_transform_runs_at_execution_time_only() -> None:
    calls: list[Any] = []

    def split(data: dict[str, Any]) -> dict[str, Any]:
        calls.append(data)
        return {"even": [n for n in data["numbers"] if n % 2 == 0]}

    def count(data: dict[str, Any]) -> int:
        return len(data["even"])

    source = create_step(unique("numbers"), lambda input, ctx: list(range(input)))
    sink = create_step(unique("sink"), lambda input, ctx: input)

    @create_workflow(unique("transformed"))
    def workflow(input: Any) -> WorkflowResponse:
        numbers = source(input)
        evens = transform({"numbers": numbers}, split)
        total = transform({"numbers": numbers}, split, count)
        return WorkflowResponse({"evens": sink(evens["even"]), "count": total})

    assert calls == []  # composing ran nothing
    run = await workflow.run(5)
    assert run.result == {"evens": [0, 2, 4], "count": 3}
    assert len(calls) == 2  # one per transform use, each computed once


async def test_ref_attribute_and_item_access_build_implicit_transforms() -> None:
    source = create_step(unique("src"), lambda input, ctx: {"brands": [{"id": "b1"}]})
    sink = create_step(unique("sink"), lambda input, ctx: input)

    @create_workflow(unique("refs"))
    def workflow(input: Any) -> WorkflowResponse:
        out = source(input)
        return WorkflowResponse({"via_attr": sink(out.brands), "via_item": out["brands"][0]["id"]})

    run = await workflow.run()
    assert run.result == {"via_attr": [{"id": "b1"}], "via_item": "b1"}


async def test_steps_reach_the_container_and_run_context() -> None:
    container = Container({"greeting": "hello"})
    seen: dict[str, Any] = {}

    def invoke(input: Any, ctx: StepContext) -> str:
        seen.update(tx=ctx.transaction_id, wf=ctx.workflow, step=ctx.step, ctx=ctx.context)
        return str(ctx.container.resolve("greeting"))

    step = create_step(unique("ctx"), invoke)
    name = unique("ctx-wf")

    @create_workflow(name)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    run = await workflow(container).run(transaction_id="tx-1", context={"source": "test"})
    assert run.result == "hello"
    assert seen == {"tx": "tx-1", "wf": name, "step": step.name, "ctx": {"source": "test"}}
    assert run.transaction.id == "tx-1"


async def test_when_false_skips_steps_with_none_output_and_no_compensation() -> None:
    journal = Journal()
    guarded = recording_step(journal, "guarded")
    failing = create_step(unique("failing"), _raise("late failure"))

    @create_workflow(unique("conditional"))
    def workflow(input: Any) -> WorkflowResponse:
        result = when(input, lambda value: value["go"]).then(lambda: guarded(input))
        failing(input)
        return WorkflowResponse(result)

    run = await workflow.run({"go": False}, throw_on_error=False)
    assert run.transaction.steps[guarded.name] is StepState.SKIPPED
    assert journal.entries == []  # neither invoked nor compensated

    @create_workflow(unique("conditional-ok"))
    def passing(input: Any) -> WorkflowResponse:
        return WorkflowResponse(
            when("named", input, lambda value: value["go"]).then(lambda: guarded(input))
        )

    skipped = await passing.run({"go": False})
    taken = await passing.run({"go": True})
    assert skipped.result is None
    assert taken.result == {"from": "guarded"}


async def test_max_retries_runs_a_failing_step_n_plus_one_times() -> None:
    attempts: list[int] = []

    async def flaky(input: Any, ctx: StepContext) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("try again")
        return "ok"

    step = create_step(unique("flaky"), flaky, max_retries=2)

    @create_workflow(unique("retrying"))
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    run = await workflow.run()
    assert run.result == "ok"
    assert attempts == [1, 2, 3]

    attempts.clear()
    always = create_step(unique("always"), _counting_failure(attempts), max_retries=3)

    @create_workflow(unique("exhausted"))
    def exhausted(input: Any) -> None:
        always(input)

    with pytest.raises(ConnectionError):
        await exhausted.run()
    assert len(attempts) == 4


def _counting_failure(attempts: list[int]) -> Any:
    async def invoke(input: Any, ctx: StepContext) -> None:
        attempts.append(ctx.attempt)
        raise ConnectionError("down")

    return invoke


async def test_permanent_failure_is_never_retried() -> None:
    calls: list[int] = []

    async def give_up(input: Any, ctx: StepContext) -> None:
        calls.append(ctx.attempt)
        StepResponse.permanent_failure("bad data")

    step = create_step(unique("give-up"), give_up, max_retries=5)

    @create_workflow(unique("permanent"))
    def workflow(input: Any) -> None:
        step(input)

    run = await workflow.run(throw_on_error=False)
    assert calls == [1]
    assert run.state is RunState.REVERTED
    assert str(run.errors[0].error) == "bad data"


async def test_retry_interval_waits_durably_and_the_engine_resumes_later() -> None:
    clock = FakeClock()
    engine = WorkflowEngine(clock=clock)
    attempts: list[int] = []

    async def flaky(input: Any, ctx: StepContext) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("busy")
        return "recovered"

    step = create_step(unique("later"), flaky, max_retries=1, retry_interval=30)
    name = unique("interval")

    @create_workflow(name)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    run = await engine.run(workflow, transaction_id="r1")
    assert run.state is RunState.INVOKING  # returned instead of sleeping
    assert run.result is None
    assert attempts == [1]

    assert await engine.recover() == []  # not due yet
    clock.advance(31)
    resumed = await engine.recover()
    assert [r.result for r in resumed] == ["recovered"]
    assert attempts == [1, 2]
    assert (await engine.get_execution(name, "r1")).state is RunState.DONE


async def test_async_step_timeout_cancels_the_step_and_compensates_it() -> None:
    journal = Journal()
    cancelled = asyncio.Event()

    async def slow(input: Any, ctx: StepContext) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def undo_slow(data: Any, ctx: StepContext) -> None:
        journal.add("undo slow", data)

    before = recording_step(journal, "before")
    slow_step = create_step(unique("slow"), slow, undo_slow, timeout=0.05)

    @create_workflow(unique("timing-out"))
    def workflow(input: Any) -> None:
        before(input)
        slow_step(input)

    run = await workflow.run(throw_on_error=False)
    assert cancelled.is_set()
    assert run.state is RunState.REVERTED
    assert run.transaction.steps[slow_step.name] is StepState.REVERTED
    assert isinstance(run.errors[0].error, StepTimeoutError)
    assert journal.names() == ["before", "undo slow", "undo before"]


async def test_workflow_timeout_cancels_the_running_step_and_compensates() -> None:
    journal = Journal()
    before = recording_step(journal, "before")

    async def hang(input: Any, ctx: StepContext) -> None:
        await asyncio.sleep(10)

    hanging = create_step(unique("hang"), hang)

    @create_workflow(unique("wf-timeout"), timeout=0.05)
    def workflow(input: Any) -> None:
        before(input)
        hanging(input)

    with pytest.raises(StepTimeoutError):
        await workflow.run()
    assert journal.names() == ["before", "undo before"]


async def test_sync_step_timeout_is_marked_after_it_returns() -> None:
    import time

    def blocking(input: Any, ctx: StepContext) -> str:
        time.sleep(0.03)
        return "late"

    step = create_step(unique("blocking"), blocking, timeout=0.01)

    @create_workflow(unique("sync-timeout"))
    def workflow(input: Any) -> None:
        step(input)

    run = await workflow.run(throw_on_error=False)
    assert run.state is RunState.REVERTED
    assert run.transaction.steps[step.name] is StepState.REVERTED
    assert isinstance(run.errors[0].error, StepTimeoutError)


async def test_continue_on_permanent_failure_finishes_done_with_the_error() -> None:
    failing = create_step(
        unique("optional"), _raise("optional failed"), continue_on_permanent_failure=True
    )
    after = create_step(unique("after"), lambda input, ctx: "after ran")

    @create_workflow(unique("continuing"))
    def workflow(input: Any) -> WorkflowResponse:
        optional = failing(input)
        return WorkflowResponse({"optional": optional, "after": after(input)})

    run = await workflow.run()
    assert run.state is RunState.DONE
    assert run.result == {"optional": None, "after": "after ran"}
    assert [(e.step, e.action) for e in run.errors] == [(failing.name, "invoke")]
    assert run.transaction.steps[failing.name] is StepState.FAILED


async def test_skip_on_permanent_failure_skips_the_rest_without_compensating() -> None:
    journal = Journal()
    first = recording_step(journal, "first")
    failing = create_step(unique("skipper"), _raise("stop here"), skip_on_permanent_failure=True)
    rest = recording_step(journal, "rest")

    @create_workflow(unique("skipping"))
    def workflow(input: Any) -> None:
        first(input)
        failing(input)
        rest(input)

    run = await workflow.run()
    assert run.state is RunState.DONE
    assert journal.names() == ["first"]
    assert run.transaction.steps[rest.name] is StepState.SKIPPED
    assert run.transaction.steps[first.name] is StepState.DONE


async def test_skip_on_permanent_failure_can_resume_at_a_named_step() -> None:
    journal = Journal()
    middle = recording_step(journal, "middle")
    last = recording_step(journal, "last")
    failing = create_step(unique("jumper"), _raise("jump"), skip_on_permanent_failure=last.name)

    @create_workflow(unique("jumping"))
    def workflow(input: Any) -> None:
        failing(input)
        middle(input)
        last(input)

    run = await workflow.run()
    assert run.state is RunState.DONE
    assert journal.names() == ["last"]
    assert run.transaction.steps[middle.name] is StepState.SKIPPED


async def test_no_wait_step_runs_alongside_the_next_steps() -> None:
    release = asyncio.Event()
    order: list[str] = []

    async def background(input: Any, ctx: StepContext) -> str:
        order.append("background started")
        await asyncio.wait_for(release.wait(), timeout=5)
        order.append("background finished")
        return "bg"

    async def next_step(input: Any, ctx: StepContext) -> str:
        order.append("next ran")
        release.set()
        return "next"

    bg = create_step(unique("bg"), background, no_wait=True)
    nxt = create_step(unique("next"), next_step)

    @create_workflow(unique("no-wait"))
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse([bg(input), nxt(input)])

    run = await workflow.run()
    # The next step ran (and released the gate) while the no-wait step was still going.
    assert order.index("next ran") < order.index("background finished")
    assert "background started" in order
    assert run.result == ["bg", "next"]


async def test_background_execution_returns_early_and_finishes_later() -> None:
    engine = WorkflowEngine()
    gate = asyncio.Event()

    async def slow(input: Any, ctx: StepContext) -> str:
        await asyncio.wait_for(gate.wait(), timeout=5)
        return "done in background"

    step = create_step(unique("bg-exec"), slow, background_execution=True)
    name = unique("background")

    @create_workflow(name)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    run = await engine.run(workflow, transaction_id="bg-1")
    assert run.state is RunState.INVOKING
    gate.set()
    await engine.drain()
    stored = await engine.get_execution(name, "bg-1")
    assert stored.state is RunState.DONE
    assert stored.result == "done in background"
    await engine.close()
