"""Durable runs on every store: async steps, signals, idempotency, resume, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from wf_helpers import FakeClock, Journal, unique

from loomwork.errors import CheckpointError, ConflictError, WorkflowAlreadyRunningError
from loomwork.workflows import (
    ExecutionStore,
    MemoryStore,
    RunState,
    StepContext,
    StepResponse,
    StepState,
    WorkflowEngine,
    WorkflowResponse,
    create_step,
    create_workflow,
    transform,
)
from loomwork.workflows._records import SAME_AS_OUTPUT
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ExecutionStore]:
    if request.param == "memory":
        chosen: ExecutionStore = MemoryStore()
    elif request.param == "sqlite":
        chosen = SqlAlchemyStore(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    else:
        pg_url = request.getfixturevalue("pg_url")
        chosen = SqlAlchemyStore(pg_url, table_prefix=f"{unique('t').replace('-', '_')}_")
    yield chosen
    await chosen.close()


@pytest.fixture
async def engine(store: ExecutionStore) -> AsyncIterator[WorkflowEngine]:
    clock = FakeClock()
    engine = WorkflowEngine(store, clock=clock)
    yield engine
    await engine.close()


def async_workflow(journal: Journal) -> Any:
    async def reserve(input: Any, ctx: StepContext) -> StepResponse[None]:
        journal.add("reserve", ctx.idempotency_key())
        return StepResponse(None, {"reservation": input})

    async def release(data: Any, ctx: StepContext) -> None:
        journal.add("release", data)

    async def confirm(input: Any, ctx: StepContext) -> str:
        journal.add("confirm", input)
        return f"confirmed {input}"

    waiting = create_step(unique("reserve"), reserve, release, is_async=True)
    after = create_step(unique("confirm"), confirm)
    name = unique("async-wf")

    @create_workflow(name)
    def workflow(input: Any) -> WorkflowResponse:
        approved = waiting(input)
        return WorkflowResponse(after(approved))

    return workflow, waiting


async def test_async_step_waits_then_set_step_success_continues(engine: WorkflowEngine) -> None:
    journal = Journal()
    workflow, waiting = async_workflow(journal)

    run = await engine.run(workflow, "order-1", transaction_id="t1")
    assert run.state is RunState.INVOKING
    assert run.transaction.steps[waiting.name] is StepState.WAITING
    key = journal.entries[0][1]

    finished = await engine.set_step_success(key, "approved")
    assert finished.state is RunState.DONE
    assert finished.result == "confirmed approved"
    assert journal.names() == ["reserve", "confirm"]


async def test_set_step_failure_compensates_the_waiting_step(engine: WorkflowEngine) -> None:
    journal = Journal()
    workflow, _ = async_workflow(journal)
    await engine.run(workflow, "order-2", transaction_id="t2")
    key = journal.entries[0][1]

    reverted = await engine.set_step_failure(key, RuntimeError("declined"))
    assert reverted.state is RunState.REVERTED
    assert journal.entries[-1] == ("release", {"reservation": "order-2"})


async def test_signals_for_a_step_that_is_not_waiting_are_refused(engine: WorkflowEngine) -> None:
    journal = Journal()
    workflow, _ = async_workflow(journal)
    await engine.run(workflow, "order-3", transaction_id="t3")
    key = journal.entries[0][1]
    await engine.set_step_success(key, "ok")

    with pytest.raises(ConflictError, match="already finished"):
        await engine.set_step_success(key, "again")
    other = key.replace(":invoke", ":compensate")
    with pytest.raises(ConflictError):
        await engine.set_step_failure(other)


async def test_idempotent_run_returns_the_stored_result_without_executing(
    engine: WorkflowEngine,
) -> None:
    calls: list[Any] = []

    def work(input: Any, ctx: StepContext) -> dict[str, Any]:
        calls.append(input)
        return {"n": input}

    step = create_step(unique("once"), work)

    @create_workflow(unique("idempotent"), idempotent=True)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    first = await engine.run(workflow, 1, transaction_id="same")
    second = await engine.run(workflow, 2, transaction_id="same")
    assert calls == [1]
    assert first.result == second.result == {"n": 1}
    assert second.state is RunState.DONE


async def test_second_start_of_a_running_run_is_refused(engine: WorkflowEngine) -> None:
    journal = Journal()
    workflow, _ = async_workflow(journal)
    await engine.run(workflow, "x", transaction_id="busy")
    with pytest.raises(WorkflowAlreadyRunningError, match=r"busy.*still running"):
        await engine.run(workflow, "x", transaction_id="busy")


async def test_unserialisable_output_fails_naming_the_step_and_type(engine: WorkflowEngine) -> None:
    class Opaque:
        pass

    journal = Journal()
    step = create_step(unique("opaque"), lambda input, ctx: Opaque(), _undo(journal))

    @create_workflow(unique("checkpointed"), store=True)
    def workflow(input: Any) -> None:
        step(input)

    with pytest.raises(CheckpointError, match=rf"{step.name}.*'Opaque'"):
        await engine.run(workflow)
    assert journal.names() == ["undo"]  # the step's effects were undone


def _undo(journal: Journal) -> Any:
    def compensate(data: Any, ctx: StepContext) -> None:
        journal.add("undo", data)

    return compensate


async def test_resume_skips_recorded_steps_and_recomputes_transforms(
    engine: WorkflowEngine,
) -> None:
    journal = Journal()
    transform_calls: list[Any] = []

    def source(input: Any, ctx: StepContext) -> list[int]:
        journal.add("source")
        return [1, 2, 3]

    def total(values: Any) -> int:
        transform_calls.append(values)
        return sum(values["numbers"])

    async def flaky_sink(input: Any, ctx: StepContext) -> int:
        journal.add("sink", ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("later")
        return int(input) * 10

    first = create_step(unique("source"), source)
    sink = create_step(unique("sink"), flaky_sink, max_retries=1, retry_interval=5)
    name = unique("resumable")

    @create_workflow(name)
    def workflow(input: Any) -> WorkflowResponse:
        numbers = first(input)
        return WorkflowResponse(sink(transform({"numbers": numbers}, total)))

    paused = await engine.run(workflow, transaction_id="r")
    assert paused.state is RunState.INVOKING
    engine.clock.advance(10)  # type: ignore[attr-defined]
    [resumed] = await engine.recover()

    assert resumed.result == 60
    assert journal.entries == [("source", None), ("sink", 1), ("sink", 2)]
    assert len(transform_calls) == 2  # computed again after the resume, from the checkpoint


async def test_cancel_compensates_a_paused_run(engine: WorkflowEngine) -> None:
    journal = Journal()
    workflow, _ = async_workflow(journal)
    await engine.run(workflow, "order-9", transaction_id="c1")

    cancelled = await engine.cancel(workflow.name, "c1")
    assert cancelled is not None
    assert cancelled.state is RunState.REVERTED
    assert journal.entries[-1] == ("release", {"reservation": "order-9"})


async def test_list_and_get_executions(engine: WorkflowEngine) -> None:
    step = create_step(unique("listed"), lambda input, ctx: input)
    name = unique("listing")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    for number in range(3):
        await engine.run(workflow, number, transaction_id=f"l{number}")
        engine.clock.advance(1)  # type: ignore[attr-defined]

    listed = await engine.list_executions(name)
    assert [info.id for info in listed] == ["l2", "l1", "l0"]
    assert {info.state for info in listed} == {RunState.DONE}
    got = await engine.get_execution(name, "l1")
    assert got.result == 1
    assert got.transaction.steps[step.name] is StepState.DONE


async def test_finished_runs_are_removed_after_their_retention(engine: WorkflowEngine) -> None:
    step = create_step(unique("kept"), lambda input, ctx: input)
    name = unique("retained")

    @create_workflow(name, retention_time=60)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    await engine.run(workflow, 1, transaction_id="keep-me")
    assert await engine.clean_expired() == 0
    engine.clock.advance(61)  # type: ignore[attr-defined]
    assert await engine.clean_expired() == 1
    assert await engine.list_executions(name) == []


async def test_a_run_whose_owner_died_is_recovered_by_another_engine(
    store: ExecutionStore,
) -> None:
    clock = FakeClock()
    journal = Journal()
    first_engine = WorkflowEngine(store, clock=clock, owner="dead", lease_seconds=10)
    survivor = WorkflowEngine(store, clock=clock, owner="alive", lease_seconds=10)

    step = create_step(unique("recorded"), lambda input, ctx: journal.add("recorded") or "r")
    second = create_step(unique("second"), lambda input, ctx: journal.add("second") or "s")
    name = unique("orphan")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse([step(input), second(input)])

    # Simulate a process that recorded the first step and died before the second.
    execution = await first_engine.start(workflow, None, "orphan-1", None, first_engine.container)
    await execution.invoke(workflow.stages[0][0])

    assert await survivor.recover() == []  # the lease is still live
    clock.advance(11)
    [run] = await survivor.recover()
    assert run.result == ["r", "s"]
    assert journal.names() == ["recorded", "second"]
    await first_engine.close()
    await survivor.close()


async def test_compensate_async_waits_for_an_outside_confirmation(engine: WorkflowEngine) -> None:
    journal = Journal()

    async def refund(data: Any, ctx: StepContext) -> None:
        journal.add("refund requested", ctx.idempotency_key("compensate"))

    charge = create_step(
        unique("charge"), lambda input, ctx: {"charged": input}, refund, compensate_async=True
    )
    failing = create_step(unique("ship"), lambda input, ctx: StepResponse.permanent_failure("no"))
    name = unique("refunding")

    @create_workflow(name)
    def workflow(input: Any) -> None:
        charge(input)
        failing(input)

    paused = await engine.run(workflow, 10, transaction_id="refund-1", throw_on_error=False)
    assert paused.state is RunState.COMPENSATING
    assert paused.transaction.steps[charge.name] is StepState.WAITING_COMPENSATION

    key = journal.entries[0][1]
    done = await engine.set_step_success(key)
    assert done.state is RunState.REVERTED
    assert done.transaction.steps[charge.name] is StepState.REVERTED


async def test_retry_step_runs_a_waiting_retry_now(engine: WorkflowEngine) -> None:
    attempts: list[int] = []

    async def flaky(input: Any, ctx: StepContext) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("busy")
        return "ok"

    step = create_step(unique("retry-now"), flaky, max_retries=1, retry_interval=3600)
    name = unique("retry-now-wf")

    @create_workflow(name)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    await engine.run(workflow, transaction_id="rn")
    run = await engine.retry_step(f"{name}:rn:{step.name}:invoke")
    assert run.result == "ok"
    assert attempts == [1, 2]


async def test_engine_runs_a_registered_workflow_by_name(engine: WorkflowEngine) -> None:
    step = create_step(unique("named"), lambda input, ctx: input + 1)
    name = unique("by-name")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    run = await engine.run(name, 1)
    assert run.result == 2


async def test_save_response_false_keeps_the_output_out_of_the_checkpoint(
    engine: WorkflowEngine, store: ExecutionStore
) -> None:
    secret = create_step(
        unique("secret"),
        lambda input, ctx: StepResponse({"token": "s3cr3t"}, "handle-1"),
        save_response=False,
    )
    name = unique("unsaved")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> None:
        secret(input)

    await engine.run(workflow, transaction_id="u1")
    record = await store.load_run(name, "u1")
    assert record is not None
    assert record.steps[secret.name].output_json is None
    assert record.steps[secret.name].compensate_input_json == '"handle-1"'
    assert "s3cr3t" not in repr(record)


async def test_any_python_string_survives_a_checkpoint(engine: WorkflowEngine) -> None:
    odd = "lone surrogate \ud800, nul \x00, emoji \U0001f9f5"
    step = create_step(unique("odd-text"), lambda input, ctx: {"text": odd})
    name = unique("odd-text-wf")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    await engine.run(workflow, transaction_id="odd")
    stored = await engine.get_execution(name, "odd")
    assert stored.result == {"text": odd}


async def test_stop_polling_lets_a_resumed_run_finish_and_claims_no_more(
    store: ExecutionStore,
) -> None:
    import asyncio

    clock = FakeClock()
    engine = WorkflowEngine(store, clock=clock, poll_interval=0.01)
    started, release = asyncio.Event(), asyncio.Event()
    calls: list[int] = []

    async def slow_retry(input: Any, ctx: StepContext) -> str:
        calls.append(ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("first try fails")
        started.set()
        await asyncio.wait_for(release.wait(), timeout=5)
        return "finished"

    step = create_step(unique("slow-retry"), slow_retry, max_retries=3, retry_interval=1)
    name = unique("polled")

    @create_workflow(name)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    await engine.run(workflow, transaction_id="p1")
    clock.advance(2)
    await engine.run(workflow, transaction_id="p2")  # due one second from now
    await engine.start_polling()
    await asyncio.wait_for(started.wait(), timeout=5)  # the poll resumed p1
    stopping = asyncio.ensure_future(engine.stop_polling(grace=5))
    await asyncio.sleep(0.05)
    clock.advance(2)  # p2 is due now, but nothing polls any more
    release.set()
    await stopping
    await asyncio.sleep(0.05)

    assert (await engine.get_execution(name, "p1")).state is RunState.DONE
    assert (await engine.get_execution(name, "p2")).state is RunState.INVOKING
    assert calls == [1, 1, 2]
    await engine.close()


async def test_a_failed_run_stores_its_errors_as_json(
    engine: WorkflowEngine, store: ExecutionStore
) -> None:
    import json

    def refuse(input: Any, ctx: StepContext) -> None:
        raise ValueError('bad "input"')

    step = create_step(unique("refuser"), refuse)
    name = unique("stored-errors")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> None:
        step(input)

    await engine.run(workflow, transaction_id="e1", throw_on_error=False)
    record = await store.load_run(name, "e1")
    assert record is not None
    [error] = json.loads(record.errors_json)
    assert (error["step"], error["action"]) == (step.name, "invoke")
    assert error["error"]["type"] == "ValueError"
    assert error["error"]["message"] == 'bad "input"'
    assert "in refuse" in error["error"]["traceback"]
    [recorded] = (await engine.get_execution(name, "e1")).errors
    assert "ValueError" in str(recorded.error)


async def test_a_step_compensated_with_its_own_output_stores_it_once_and_gets_it_back(
    engine: WorkflowEngine, store: ExecutionStore
) -> None:
    journal = Journal()

    def create(input: Any, ctx: StepContext) -> dict[str, Any]:
        return {"ids": ["b1", "b2"]}  # no compensation input: the output is undone

    async def failing_later(input: Any, ctx: StepContext) -> None:
        if ctx.attempt == 1:
            raise ConnectionError("later")
        StepResponse.permanent_failure("gone for good")

    made = create_step(unique("made"), create, _undo(journal))
    then = create_step(unique("then"), failing_later, max_retries=1, retry_interval=5)
    name = unique("undone-from-output")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> None:
        then(made(input))

    await engine.run(workflow, transaction_id="s1")
    record = await store.load_run(name, "s1")
    assert record is not None
    assert record.steps[made.name].compensate_input_json == SAME_AS_OUTPUT
    engine.clock.advance(10)  # type: ignore[attr-defined]
    [resumed] = await engine.recover()  # a fresh execution, rebuilt from the checkpoints

    assert resumed.state is RunState.REVERTED
    assert journal.entries == [("undo", {"ids": ["b1", "b2"]})]
