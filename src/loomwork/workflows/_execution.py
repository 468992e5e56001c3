"""Driving one run: invoke the stages in order, then compensate on a permanent failure.

The same loop starts a run and resumes one from its checkpoints: a step whose outcome is
recorded is not run again. Durable runs write a step's outcome before the next step
starts; other runs keep everything in memory and never serialise anything.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from loomwork.errors import PermanentStepFailure, RunCancelledError, StepTimeoutError
from loomwork.events import (
    Event,
    EventChain,
    EventSink,
    current_event_sink,
    reset_event_sink,
    set_event_sink,
)
from loomwork.workflows._codec import encode, encode_error
from loomwork.workflows._compensation import plan_compensation
from loomwork.workflows._events import DISCARDED, StepEvents, dump_events
from loomwork.workflows._records import (
    FAILED_STEP_STATES,
    RESOLVED_STEP_STATES,
    SAME_AS_OUTPUT,
    RunRecord,
    RunState,
    StepRecord,
    StepState,
)
from loomwork.workflows._refs import Scope
from loomwork.workflows._result import StepError, TransactionInfo, WorkflowRun
from loomwork.workflows._step import StepContext, StepResponse

if TYPE_CHECKING:
    from loomwork.container import Container
    from loomwork.workflows._definition import StepNode, WorkflowDefinition
    from loomwork.workflows._engine import WorkflowEngine


class Outcome(IntEnum):
    """How a step (or a stage) left the run; a stage takes its siblings' worst."""

    OK = 0
    DETACHED = 1
    SUSPEND = 2
    FAIL = 3


class Execution:
    """One run being driven by an engine (in memory; durable runs mirror it to a store)."""

    def __init__(
        self,
        engine: WorkflowEngine,
        definition: WorkflowDefinition,
        *,
        container: Container,
        transaction_id: str,
        input: Any,
        context: dict[str, Any],
        record: RunRecord | None,
    ) -> None:
        self.engine = engine
        self.clock = engine.clock
        self.definition = definition
        self.container = container
        self.transaction_id = transaction_id
        self.context = context
        self.record = record
        self.durable = record is not None
        self.scope = Scope(input, {})
        self.steps: dict[str, StepRecord] = {}
        self.compensate_inputs: dict[str, Any] = {}
        self.step_events: dict[str, Sequence[Event]] = {}
        sink = current_event_sink()
        # Started inside a step of another run: that run publishes our events.
        self.parent_events = sink if isinstance(sink, StepEvents) else None
        self.errors: list[StepError] = []
        self.state = RunState.INVOKING
        self.result: Any = None
        self.skip_to: str | bool | None = None
        self.cancel_requested = False
        self.no_wait: dict[str, asyncio.Task[Outcome]] = {}
        self.defer_checkpoints = False
        self.unsaved: list[StepRecord] = []
        timeout = definition.options.timeout
        started = record.created_at if record is not None else self.clock()
        self.deadline = None if timeout is None else started + timeout

    # ---------------------------------------------------------------- driving

    async def drive(self) -> Outcome:
        """Advance the run as far as it can go now; returns why it stopped."""
        if self.state is RunState.INVOKING:
            outcome = await self._invoke_stages()
            if outcome is not Outcome.FAIL:
                if outcome is Outcome.OK:
                    await self._finish(RunState.DONE)
                elif outcome is Outcome.SUSPEND:
                    await self.engine.runs.suspend(self)
                return outcome
            self.state = RunState.WAITING_TO_COMPENSATE
        outcome = await self._compensate_stages()
        if outcome is Outcome.SUSPEND:
            await self.engine.runs.suspend(self)
            return outcome
        failed = any(error.action == "compensate" for error in self.errors)
        await self._finish(RunState.FAILED if failed else RunState.REVERTED)
        return Outcome.OK

    async def _invoke_stages(self) -> Outcome:
        last = len(self.definition.stages) - 1
        for index, stage in enumerate(self.definition.stages):
            # The last stage's checkpoints go out with the run's final state, in one commit.
            self.defer_checkpoints = self.durable and index == last
            if self.cancel_requested:
                return self.cancelled(stage[0])
            if self.deadline is not None and self.clock() >= self.deadline:
                return self._workflow_timed_out(stage[0])
            if len(stage) == 1:
                outcome = await self.invoke(stage[0])
            else:
                outcome = max(await asyncio.gather(*(self.invoke(node) for node in stage)))
            if outcome is not Outcome.OK:
                return outcome
        return await self._join_no_wait()

    async def _join_no_wait(self) -> Outcome:
        if not self.no_wait:
            return Outcome.OK
        outcomes = await asyncio.gather(*self.no_wait.values())
        self.no_wait.clear()
        return max(outcomes)

    def cancelled(self, node: StepNode) -> Outcome:
        """Record that the run was cancelled at ``node``; the run then compensates."""
        self.errors.append(StepError(node.key, "invoke", RunCancelledError("run cancelled")))
        return Outcome.FAIL

    def _workflow_timed_out(self, node: StepNode) -> Outcome:
        timeout = self.definition.options.timeout or 0.0
        error = StepTimeoutError(f"workflow {self.definition.name!r}", timeout)
        self.errors.append(StepError(node.key, "invoke", error))
        return Outcome.FAIL

    # ---------------------------------------------------------------- invoking

    async def invoke(self, node: StepNode) -> Outcome:
        """Run one step use unless its recorded outcome or a condition settles it."""
        record = self.steps.get(node.key)
        if record is not None:
            settled = self._settled(node, record)
            if settled is not None:
                return settled
        if self.skip_to is not None:
            if self.skip_to is True or node.key != self.skip_to:
                return await self._skipped(node)
            self.skip_to = None
        for condition in node.conditions:
            if not condition.holds(self.scope):
                return await self._skipped(node)
        attempts = 0 if record is None else record.attempt
        if node.options.no_wait:
            return await self._start_no_wait(node, attempts)
        if node.options.background_execution:
            self.engine.runs.detach(self._background(node, attempts))
            return Outcome.DETACHED
        return await self.attempt(node, node.input(self.scope), attempts)

    def _settled(self, node: StepNode, record: StepRecord) -> Outcome | None:
        state = record.state
        if state in RESOLVED_STEP_STATES:
            return Outcome.OK
        if state in FAILED_STEP_STATES:
            return self.after_failure(node)
        if state is StepState.WAITING:
            due = record.wake_at is not None and record.wake_at <= self.clock()
            return None if due else Outcome.SUSPEND
        return None  # in flight when the last owner stopped: run it again

    async def _start_no_wait(self, node: StepNode, attempts: int) -> Outcome:
        await self.checkpoint(StepRecord(node.key, StepState.INVOKING, attempts))
        self.no_wait[node.key] = asyncio.ensure_future(
            self.attempt(node, node.input(self.scope), attempts)
        )
        return Outcome.OK

    async def _background(self, node: StepNode, attempts: int) -> None:
        await self.checkpoint(StepRecord(node.key, StepState.INVOKING, attempts))
        outcome = await self.attempt(node, node.input(self.scope), attempts)
        if outcome is Outcome.SUSPEND:
            await self.engine.runs.suspend(self)
            return
        if outcome is Outcome.FAIL:
            self.state = RunState.WAITING_TO_COMPENSATE
        await self.drive()

    async def attempt(self, node: StepNode, input: Any, attempts: int) -> Outcome:
        """Call the step until it succeeds, fails for good, or waits for a retry."""
        options = node.options
        while True:
            attempts += 1
            events = StepEvents()
            try:
                response = await self._call(node, input, attempts, events)
            except PermanentStepFailure as error:
                return await self.failed(node, error, error.compensate_input, attempts)
            except StepTimeoutError as error:
                return await self.failed(node, error, None, attempts, StepState.TIMED_OUT)
            except Exception as error:
                if attempts > options.max_retries:
                    return await self.failed(node, error, None, attempts)
                if options.retry_interval > 0:
                    return await self._wait_for_retry(node, error, attempts)
                continue
            return await self.succeeded(node, response, attempts, events=events.events)

    async def _call(self, node: StepNode, input: Any, attempt: int, events: StepEvents) -> Any:
        token = set_event_sink(events)  # services called by the step stage their events here
        try:
            return await self._invoke_step(node, input, self.step_context(node, attempt, events))
        finally:
            reset_event_sink(token)

    async def _invoke_step(self, node: StepNode, input: Any, ctx: StepContext) -> Any:
        limit = self._time_limit(node)
        if not node.invoke_is_async:
            started = time.monotonic()
            result = node.invoke(input, ctx)
            if inspect.isawaitable(result):
                result = await result
            if limit is not None and time.monotonic() - started > limit:
                raise StepTimeoutError(f"step {node.key!r}", limit)
            return result
        if limit is None:
            return await node.invoke(input, ctx)
        try:
            async with asyncio.timeout(limit) as cm:
                return await node.invoke(input, ctx)
        except TimeoutError:
            if cm.expired():
                raise StepTimeoutError(f"step {node.key!r}", limit) from None
            raise

    def _time_limit(self, node: StepNode) -> float | None:
        limit = node.options.timeout
        if self.deadline is not None:
            remaining = max(self.deadline - self.clock(), 0.0)
            limit = remaining if limit is None else min(limit, remaining)
        return limit

    def step_context(self, node: StepNode, attempt: int, events: EventSink) -> StepContext:
        """The context a step or compensation function of ``node`` receives."""
        return StepContext(
            self.container,
            self.engine,
            self.definition.name,
            self.transaction_id,
            node.key,
            attempt,
            self.context,
            events,
        )

    async def succeeded(
        self,
        node: StepNode,
        response: Any,
        attempts: int,
        *,
        from_outside: bool = False,
        events: Sequence[Event] | None = None,
    ) -> Outcome:
        """Record a step's successful response (or its ``skip``).

        An ``is_async`` step's own return only starts the wait; the response that
        completes it comes ``from_outside`` (``set_step_success``).
        """
        if response is StepResponse.SKIPPED:
            return await self._skipped(node)
        if isinstance(response, StepResponse):
            output, compensate_input = response.output, response.compensate_input
        else:
            output = compensate_input = response
        self.compensate_inputs[node.key] = compensate_input
        if events:
            self.step_events[node.key] = events
        waits = node.options.is_async and not from_outside
        record = StepRecord(node.key, StepState.WAITING if waits else StepState.DONE, attempts)
        if self.durable:
            try:
                self._encode_payloads(node, record, None if waits else output, compensate_input)
            except Exception as error:
                return await self.failed(node, error, compensate_input, attempts)
        if not waits:
            self.scope.outputs[node.key] = output
        await self.checkpoint(record)
        return Outcome.SUSPEND if waits else Outcome.OK

    def _encode_payloads(
        self, node: StepNode, record: StepRecord, output: Any, compensate_input: Any
    ) -> None:
        name = self.definition.name
        if node.options.save_response and output is not None:
            record.output_json = encode(output, name, node.key, "output")
        if compensate_input is output and record.output_json is not None:
            record.compensate_input_json = SAME_AS_OUTPUT
        else:
            what = "compensate input"
            record.compensate_input_json = encode(compensate_input, name, node.key, what)
        events = self.step_events.get(node.key)
        if events:
            record.events_json = encode(dump_events(events), name, node.key, "events")

    async def failed(
        self,
        node: StepNode,
        error: BaseException,
        compensate_input: Any,
        attempts: int,
        state: StepState = StepState.FAILED,
    ) -> Outcome:
        """Record a permanent failure, then continue, skip on, or fail the run."""
        self.errors.append(StepError(node.key, "invoke", error))
        self.compensate_inputs[node.key] = compensate_input
        self.scope.outputs[node.key] = None
        record = StepRecord(node.key, state, attempts)
        if self.durable:
            record.error_json = encode_error(error)
            record.compensate_input_json = self._encode_or_null(node, compensate_input)
        await self.checkpoint(record)
        return self.after_failure(node)

    def _encode_or_null(self, node: StepNode, value: Any) -> str:
        try:
            return encode(value, self.definition.name, node.key, "compensate input")
        except Exception:
            return "null"

    def after_failure(self, node: StepNode) -> Outcome:
        """What a permanent failure of ``node`` means for the run: go on, skip, or fail."""
        options = node.options
        if options.continue_on_permanent_failure:
            return Outcome.OK
        if options.skip_on_permanent_failure:
            self.skip_to = options.skip_on_permanent_failure
            return Outcome.OK
        return Outcome.FAIL

    async def _wait_for_retry(self, node: StepNode, error: Exception, attempts: int) -> Outcome:
        wake_at = self.clock() + node.options.retry_interval
        record = StepRecord(node.key, StepState.WAITING, attempts, wake_at=wake_at)
        if self.durable:
            record.error_json = encode_error(error)
        await self.checkpoint(record)
        return Outcome.SUSPEND

    async def _skipped(self, node: StepNode) -> Outcome:
        self.scope.outputs[node.key] = None
        await self.checkpoint(StepRecord(node.key, StepState.SKIPPED))
        return Outcome.OK

    # ------------------------------------------------------------ compensating

    async def _compensate_stages(self) -> Outcome:
        await self._join_no_wait()
        if self.state is not RunState.COMPENSATING:
            self.state = RunState.COMPENSATING
            await self.engine.runs.save_state(self)
        states = {key: record.state for key, record in self.steps.items()}
        for group in plan_compensation(self.definition.stages, states):
            if len(group) == 1:
                outcome = await self.compensate(group[0])
            else:
                outcome = max(await asyncio.gather(*(self.compensate(node) for node in group)))
            if outcome is Outcome.SUSPEND:
                return outcome
        return Outcome.OK

    async def compensate(self, node: StepNode) -> Outcome:
        """Undo one step use with its compensation function, if it has one."""
        record = self.steps[node.key]
        if record.state is StepState.WAITING_COMPENSATION:
            return Outcome.SUSPEND
        if node.compensate is None:
            await self.checkpoint(self.moved(record, StepState.REVERTED))
            return Outcome.OK
        # Events emitted while undoing are dropped with the rest of the run's events.
        ctx = self.step_context(node, record.attempt, DISCARDED)
        token = set_event_sink(DISCARDED)
        try:
            result = node.compensate(self.compensate_inputs.get(node.key), ctx)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            return await self.compensation_failed(node, error)
        finally:
            reset_event_sink(token)
        state = (
            StepState.WAITING_COMPENSATION if node.options.compensate_async else StepState.REVERTED
        )
        await self.checkpoint(self.moved(record, state))
        return Outcome.SUSPEND if state is StepState.WAITING_COMPENSATION else Outcome.OK

    async def compensation_failed(self, node: StepNode, error: BaseException) -> Outcome:
        """Record a failed compensation; the others still run and the run ends ``failed``."""
        self.errors.append(StepError(node.key, "compensate", error))
        record = self.moved(self.steps[node.key], StepState.COMPENSATION_FAILED)
        if self.durable:
            record.compensate_error_json = encode_error(error)
        await self.checkpoint(record)
        return Outcome.OK

    @staticmethod
    def moved(record: StepRecord, state: StepState) -> StepRecord:
        """A copy of ``record`` in ``state`` (records are replaced, never edited in place)."""
        return StepRecord(
            record.key,
            state,
            record.attempt,
            record.output_json,
            record.compensate_input_json,
            record.error_json,
            record.compensate_error_json,
            None,
            record.updated_at,
            record.events_json,
        )

    # ---------------------------------------------------------------- records

    async def checkpoint(self, record: StepRecord) -> None:
        """Keep a step's record; durable runs write it before the run moves on."""
        self.steps[record.key] = record
        if self.durable:
            record.updated_at = self.clock()
            if self.defer_checkpoints:
                self.unsaved.append(record)
            else:
                await self.engine.store.save_step(self.definition.name, self.transaction_id, record)

    def take_unsaved(self) -> list[StepRecord]:
        """The deferred step records, for the run-level write that carries them."""
        unsaved, self.unsaved = self.unsaved, []
        self.defer_checkpoints = False
        return unsaved

    async def _finish(self, state: RunState) -> None:
        self.state = state
        events: Sequence[Event] = []
        if state is RunState.DONE:
            self.result = self.definition.result(self.scope)
            events = self._released_events()
        await self.engine.runs.finished(self, events)

    def _released_events(self) -> Sequence[Event]:
        events = EventChain(
            [
                self.step_events[node.key]
                for stage in self.definition.stages
                for node in stage
                if node.key in self.step_events
            ]
        )
        if self.parent_events is not None:
            self.parent_events.emit(events)
            return []
        return events

    def outbox_json(self) -> str:
        """The outbox entry of the run's events: which step checkpoints hold them, in order.

        The events themselves stay in those checkpoints (each step's are encoded and
        written once); :func:`outbox_events` reads them back from there.
        """
        keys = [
            node.key
            for stage in self.definition.stages
            for node in stage
            if (record := self.steps.get(node.key)) is not None
            and record.events_json not in (None, "[]")
        ]
        return encode({"steps": keys}, self.definition.name, "<outbox>", "outbox")

    def outcome(self) -> WorkflowRun:
        """The public view of the run as it stands."""
        steps = {key: record.state for key, record in self.steps.items()}
        if len(steps) != len(self.definition.nodes):
            for key in self.definition.nodes:
                steps.setdefault(key, StepState.NOT_STARTED)
        info = TransactionInfo(self.definition.name, self.transaction_id, self.state, steps)
        return WorkflowRun(self.result, list(self.errors), info)
