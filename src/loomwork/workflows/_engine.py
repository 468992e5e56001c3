"""The workflow engine: starts, resumes, signals, lists and cleans up runs.

Durability: a durable run (``store=True``, ``idempotent``, ``retention_time``, or any step
that can pause) is written to the engine's :class:`ExecutionStore` when it starts and after
every step. Step execution is **at-least-once**: a step whose outcome was recorded never
runs again, but a step that was in flight when its process died runs again on recovery
(or is compensated), so steps with outside effects should be idempotent.

Ownership: the process driving a durable run holds a lease on it and renews it while the
run is active; :meth:`WorkflowEngine.recover` claims runs whose lease expired (their owner
died) or whose retry interval has passed. The store guarantees one claimer per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ulid import ULID

from loomwork.container import Container
from loomwork.errors import ConflictError, NotFoundError, WorkflowAlreadyRunningError
from loomwork.events import Event
from loomwork.workflows._codec import decode, encode
from loomwork.workflows._definition import WorkflowDefinition, get_workflow
from loomwork.workflows._events import outbox_events, publish
from loomwork.workflows._execution import Execution, Outcome
from loomwork.workflows._records import RunRecord, RunState, StepRecord, StepState
from loomwork.workflows._result import TransactionInfo, WorkflowRun
from loomwork.workflows._resume import restore
from loomwork.workflows._runbook import RunBook
from loomwork.workflows._step import StepResponse
from loomwork.workflows.stores import ExecutionStore, MemoryStore

logger = logging.getLogger("loomwork.workflows")

DEFAULT_RETENTION = 7 * 24 * 3600.0


class WorkflowEngine:
    """Runs workflows for one container, checkpointing durable runs to ``store``.

    ``clock`` returns POSIX seconds; tests pass a fake one to move time.
    """

    def __init__(
        self,
        store: ExecutionStore | None = None,
        *,
        container: Container | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        retention_time: float = DEFAULT_RETENTION,
        poll_interval: float = 1.0,
    ) -> None:
        self.store = store if store is not None else MemoryStore()
        self.container = container if container is not None else Container()
        if "workflow_engine" not in self.container:
            self.container.register("workflow_engine", self)
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{ULID().hex[-6:]}"
        self.lease_seconds = lease_seconds
        self.retention_time = retention_time
        self.poll_interval = poll_interval
        self.runs = RunBook(self.store, clock, self.owner, lease_seconds, retention_time)
        self._loop: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------ running

    async def run(
        self,
        workflow: str | WorkflowDefinition,
        input: Any = None,
        *,
        transaction_id: str | None = None,
        context: dict[str, Any] | None = None,
        throw_on_error: bool = True,
        container: Container | None = None,
    ) -> WorkflowRun:
        """Run a workflow (a definition or a registered name) and return its outcome.

        A run that pauses (an async step, a retry interval, background execution) returns
        in state ``invoking`` with no result. With ``throw_on_error`` a ``reverted`` or
        ``failed`` run raises the first failed step's original exception, after
        compensation, with a note naming the workflow and step.
        """
        definition = (
            workflow if isinstance(workflow, WorkflowDefinition) else get_workflow(workflow)
        )
        execution = await self.start(
            definition, input, transaction_id, context, container or self.container
        )
        if not execution.state.finished:
            await execution.drive()
        run = execution.outcome()
        if throw_on_error:
            raise_failure(run)
        return run

    async def start(
        self,
        definition: WorkflowDefinition,
        input: Any,
        transaction_id: str | None,
        context: dict[str, Any] | None,
        container: Container,
        *,
        resume: bool = False,
    ) -> Execution:
        """Create (or, with ``resume``, take over) the execution of one run."""
        tx = transaction_id or f"auto-{time.time_ns():x}{os.urandom(5).hex()}"
        key = (definition.name, tx)
        if key in self.runs.active:
            raise WorkflowAlreadyRunningError(definition.name, tx)
        if definition.durable:
            return await self._start_durable(
                definition, input=input, tx=tx, context=context, container=container, resume=resume
            )
        execution = Execution(
            self,
            definition,
            container=container,
            transaction_id=tx,
            input=input,
            context=context or {},
            record=None,
        )
        self.runs.active[key] = execution
        return execution

    async def _start_durable(
        self,
        definition: WorkflowDefinition,
        *,
        input: Any,
        tx: str,
        context: dict[str, Any] | None,
        container: Container,
        resume: bool,
    ) -> Execution:
        now = self.clock()
        record = RunRecord(
            definition.name,
            tx,
            RunState.INVOKING,
            input_json=encode(input, definition.name, "<input>", "workflow input"),
            context_json=encode(context or {}, definition.name, "<input>", "run context"),
            owner=self.owner,
            lease_until=now + self.lease_seconds,
            wake_at=now,
            created_at=now,
            updated_at=now,
        )
        replace = not definition.options.idempotent
        existing = await self.store.create_run(record, replace_finished=replace)
        if existing is None:
            execution = Execution(
                self,
                definition,
                container=container,
                transaction_id=tx,
                input=input,
                context=context or {},
                record=record,
            )
        elif existing.state.finished:
            return self._restored(definition, existing, container)
        elif resume and await self.runs.acquire(definition.name, tx):
            execution = self._restored(definition, existing, container)
        else:
            raise WorkflowAlreadyRunningError(definition.name, tx)
        self.runs.track(execution)
        return execution

    def _restored(
        self, definition: WorkflowDefinition, record: RunRecord, container: Container
    ) -> Execution:
        execution = Execution(
            self,
            definition,
            container=container,
            transaction_id=record.transaction_id,
            input=decode(record.input_json),
            context=decode(record.context_json),
            record=record,
        )
        restore(execution, record)
        execution.result = decode(record.result_json)
        return execution

    # ---------------------------------------------------------- signals from outside

    async def set_step_success(self, idempotency_key: str, response: Any = None) -> WorkflowRun:
        """Complete a waiting async step (or async compensation) and continue the run."""
        execution, node_key, action = await self._signalled(idempotency_key)
        node = execution.definition.nodes[node_key]
        attempts = execution.steps[node_key].attempt
        if action == "invoke":
            completed = _completed(response, execution, node_key)
            await execution.succeeded(node, completed, attempts, from_outside=True)
        else:
            record = execution.steps[node_key]
            await execution.checkpoint(execution.moved(record, StepState.REVERTED))
        return await self._continue(execution)

    async def set_step_failure(
        self, idempotency_key: str, error: BaseException | str = "step failed"
    ) -> WorkflowRun:
        """Fail a waiting async step (or async compensation) and continue the run."""
        execution, node_key, action = await self._signalled(idempotency_key)
        node = execution.definition.nodes[node_key]
        failure = error if isinstance(error, BaseException) else ConflictError(error)
        if action == "invoke":
            # The step's own invoke succeeded before the wait, so its compensation gets the
            # input that invoke returned.
            undo = execution.compensate_inputs.get(node_key)
            attempts = execution.steps[node_key].attempt
            if await execution.failed(node, failure, undo, attempts) is Outcome.FAIL:
                execution.state = RunState.WAITING_TO_COMPENSATE
        else:
            await execution.compensation_failed(node, failure)
        return await self._continue(execution)

    async def retry_step(self, idempotency_key: str) -> WorkflowRun:
        """Run a step that waits for its retry interval now instead of later."""
        workflow, tx, step, _ = parse_idempotency_key(idempotency_key)
        execution = await self._load_owned(workflow, tx)
        record = execution.steps.get(step)
        if record is None or record.state is not StepState.WAITING or record.wake_at is None:
            await self.runs.suspend(execution)
            state = "not started" if record is None else record.state.value
            raise ConflictError(
                f"step {step!r} of run {tx!r} is not waiting for a retry (state: {state})"
            )
        record.wake_at = self.clock()
        return await self._continue(execution)

    async def cancel(self, workflow: str, transaction_id: str) -> WorkflowRun | None:
        """Stop a run and compensate what it did.

        A run active in this process stops before its next stage (returns ``None``; its
        own ``run()`` reports the outcome); a paused run is compensated now.
        """
        active = self.runs.active.get((workflow, transaction_id))
        if active is not None:
            active.cancel_requested = True
            return None
        execution = await self._load_owned(workflow, transaction_id)
        if execution.state is RunState.INVOKING:
            waiting = [k for k, r in execution.steps.items() if r.state is StepState.WAITING]
            key = waiting[0] if waiting else next(iter(execution.definition.nodes))
            execution.cancelled(execution.definition.nodes[key])
            execution.state = RunState.WAITING_TO_COMPENSATE
        return await self._continue(execution)

    async def _signalled(self, idempotency_key: str) -> tuple[Execution, str, str]:
        workflow, tx, step, action = parse_idempotency_key(idempotency_key)
        execution = await self._load_owned(workflow, tx)
        record = execution.steps.get(step)
        expected = StepState.WAITING if action == "invoke" else StepState.WAITING_COMPENSATION
        if record is None or record.state is not expected or record.wake_at is not None:
            await self.runs.suspend(execution)
            state = "not started" if record is None else record.state.value
            raise ConflictError(
                f"step {step!r} of workflow {workflow!r} run {tx!r} is not waiting for an "
                f"outside {action} result (its state is {state}); nothing was changed"
            )
        return execution, step, action

    async def _load_owned(self, workflow: str, tx: str) -> Execution:
        definition = get_workflow(workflow)
        if not definition.durable:
            raise ConflictError(f"workflow {workflow!r} is not stored, so it cannot be resumed")
        record = await self.store.load_run(workflow, tx)
        if record is None:
            raise NotFoundError("workflow run", f"{workflow}:{tx}")
        if record.state.finished:
            raise ConflictError(f"workflow {workflow!r} run {tx!r} has already finished")
        if not await self.runs.acquire(workflow, tx):
            raise WorkflowAlreadyRunningError(workflow, tx)
        execution = self._restored(definition, record, self.container)
        self.runs.track(execution)
        return execution

    async def _continue(self, execution: Execution) -> WorkflowRun:
        if not execution.state.finished:
            await execution.drive()
        return execution.outcome()

    # ------------------------------------------------------------------ recovery

    async def recover(self, limit: int = 100, *, workflow: str | None = None) -> list[WorkflowRun]:
        """Resume runs that need a driver: their owner died, or a retry is due.

        Safe to call from many processes at once: each run is resumed by one of them.
        ``workflow`` limits the pass to that workflow's runs.
        """
        now = self.clock()
        claimed = await self.store.claim_due(
            self.owner, now, now + self.lease_seconds, limit, workflow=workflow
        )
        runs = []
        for name, tx in claimed:
            run = await self._resume_claimed(name, tx)
            if run is not None:
                runs.append(run)
        return runs

    async def _resume_claimed(self, workflow: str, tx: str) -> WorkflowRun | None:
        record = await self.store.load_run(workflow, tx)
        if record is None:
            return None
        try:
            definition = get_workflow(workflow)
        except NotFoundError:
            logger.warning("cannot resume run %s of unknown workflow %r", tx, workflow)
            return None
        execution = self._restored(definition, record, self.container)
        self.runs.track(execution)
        return await self._continue(execution)

    async def publish_outbox(self, limit: int = 100) -> int:
        """Publish the events of succeeded runs that a crash left unpublished.

        Returns how many runs' events went out. Events are delivered at least once.
        """
        published = 0
        for record in await self.store.list_outbox(limit):
            if await publish(self.container, await self._outbox_events(record)):
                record.outbox_json = None
                await self.store.save_run(record)
                published += 1
        return published

    async def _outbox_events(self, record: RunRecord) -> Sequence[Event]:
        outbox = decode(record.outbox_json)
        steps: Mapping[str, StepRecord] = {}
        if isinstance(outbox, dict):  # the events are in the step checkpoints
            loaded = await self.store.load_run(record.workflow, record.transaction_id)
            steps = loaded.steps if loaded is not None else {}
        return outbox_events(outbox, steps)

    async def clean_expired(self) -> int:
        """Delete finished runs past their retention time; returns how many."""
        return await self.store.delete_expired(self.clock())

    # ------------------------------------------------------------------ queries

    async def get_execution(self, workflow: str, transaction_id: str) -> WorkflowRun:
        """The stored state of one run (durable runs only)."""
        record = await self.store.load_run(workflow, transaction_id)
        if record is None:
            raise NotFoundError("workflow run", f"{workflow}:{transaction_id}")
        return self._restored(get_workflow(workflow), record, self.container).outcome()

    async def list_executions(
        self,
        workflow: str | None = None,
        states: Iterable[RunState] | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[TransactionInfo]:
        """Stored runs, newest first."""
        records = await self.store.list_runs(
            workflow=workflow, states=states, limit=limit, offset=offset
        )
        return [TransactionInfo(r.workflow, r.transaction_id, r.state) for r in records]

    # ------------------------------------------------------------------ lifecycle

    async def start_polling(self) -> None:
        """Keep recovering due runs, publishing left-over events and cleaning expired runs.

        Runs every ``poll_interval`` seconds until :meth:`stop_polling`.
        """
        if self._loop is None:
            self._stop = asyncio.Event()
            self._loop = asyncio.ensure_future(self._poll(self._stop))

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.recover()
                await self.publish_outbox()
                await self.clean_expired()
            except Exception:
                logger.exception("workflow engine poll failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def stop_polling(self, grace: float | None = None) -> None:
        """Stop claiming runs; the runs a poll already resumed get ``grace`` seconds.

        ``None`` waits for them however long; past the grace they are cancelled and
        resume elsewhere once their lease runs out.
        """
        loop, self._loop = self._loop, None
        if loop is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(loop), grace)
        except TimeoutError:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    async def drain(self) -> None:
        """Wait until background step work started by this engine has finished."""
        await self.runs.drain()

    async def close(self) -> None:
        """Stop polling and lease renewal; background work is awaited first."""
        await self.stop_polling(grace=0)
        await self.runs.close()


def _completed(response: Any, execution: Execution, key: str) -> StepResponse[Any]:
    if isinstance(response, StepResponse):
        return response
    return StepResponse(response, execution.compensate_inputs.get(key))


def parse_idempotency_key(key: str) -> tuple[str, str, str, str]:
    """Split ``workflow:transaction_id:step:action`` (the id may itself hold ``:``)."""
    parts = key.split(":")
    if len(parts) < 4 or parts[-1] not in ("invoke", "compensate"):
        raise ConflictError(
            f"idempotency key {key!r} is not of the form workflow:transaction:step:action"
        )
    return parts[0], ":".join(parts[1:-2]), parts[-2], parts[-1]


def raise_failure(run: WorkflowRun) -> None:
    """Raise the first failed invoke's exception of a reverted or failed run."""
    if run.state not in (RunState.REVERTED, RunState.FAILED) or not run.errors:
        return
    first = next((e for e in run.errors if e.action == "invoke"), run.errors[0])
    info = run.transaction
    first.error.add_note(
        f"workflow {info.workflow!r} step {first.step!r} ({first.action}) failed in run "
        f"{info.id!r}; the run ended {run.state.value}"
    )
    raise first.error


_default_engine: WorkflowEngine | None = None


def engine_for(container: Container | None) -> WorkflowEngine:
    """The engine registered in ``container`` (one is created on first use)."""
    global _default_engine  # noqa: PLW0603 - one lazily built engine for container-less runs
    if container is None:
        if _default_engine is None:
            _default_engine = WorkflowEngine()
        return _default_engine
    engine: WorkflowEngine | None = container.resolve("workflow_engine", None)
    if engine is None:
        engine = WorkflowEngine(container=container)
    return engine
