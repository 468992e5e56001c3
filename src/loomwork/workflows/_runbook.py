"""The engine's book of runs: which executions are live here, and their leases.

It also writes run-level state changes to the store: pause, compensation, finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from loomwork.events import Event
from loomwork.workflows._codec import encode, encode_error
from loomwork.workflows._events import publish

if TYPE_CHECKING:
    from loomwork.workflows._execution import Execution
    from loomwork.workflows.stores import ExecutionStore

logger = logging.getLogger("loomwork.workflows")

_Key = tuple[str, str]


class RunBook:
    """Tracks the executions this process drives and writes their run-level records."""

    def __init__(
        self,
        store: ExecutionStore,
        clock: Callable[[], float],
        owner: str,
        lease_seconds: float,
        retention_time: float,
    ) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.retention_time = retention_time
        self.active: dict[_Key, Execution] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    def track(self, execution: Execution) -> None:
        """Note that this process now drives ``execution`` (and keeps its lease alive)."""
        self.active[(execution.definition.name, execution.transaction_id)] = execution
        if execution.durable and self._heartbeat is None:
            self._heartbeat = asyncio.ensure_future(self._renew_leases())

    async def acquire(self, workflow: str, transaction_id: str) -> bool:
        """Take the lease of a stored run (see :meth:`ExecutionStore.acquire`)."""
        now = self.clock()
        return await self.store.acquire(
            workflow, transaction_id, self.owner, now, now + self.lease_seconds
        )

    async def save_state(self, execution: Execution) -> None:
        """Write a durable run's state change (e.g. to ``compensating``)."""
        record = execution.record
        if record is not None:
            record.state = execution.state
            record.updated_at = self.clock()
            await self.store.save_run(record, steps=execution.take_unsaved())

    async def suspend(self, execution: Execution) -> None:
        """Release a paused run; it wakes at its earliest retry time or on a signal."""
        self.active.pop((execution.definition.name, execution.transaction_id), None)
        record = execution.record
        if record is None:
            return
        waits = [step.wake_at for step in execution.steps.values() if step.wake_at is not None]
        record.state = execution.state
        record.owner = record.lease_until = None
        record.wake_at = min(waits) if waits else None
        record.updated_at = self.clock()
        await self.store.save_run(record, steps=execution.take_unsaved())

    async def finished(self, execution: Execution, events: Sequence[Event]) -> None:
        """Store a finished run's outcome, then publish its events (outbox first)."""
        self.active.pop((execution.definition.name, execution.transaction_id), None)
        record = execution.record
        if record is None:
            await publish(execution.container, events)
            return
        now = self.clock()
        name = execution.definition.name
        errors = ",".join(
            f'{{"step":{encode(e.step, name, e.step, "name")},"action":"{e.action}",'
            f'"error":{encode_error(e.error)}}}'
            for e in execution.errors
        )
        record.state = execution.state
        record.result_json = encode(execution.result, name, "<result>", "workflow result")
        record.errors_json = f"[{errors}]"
        retention = execution.definition.options.retention_time
        record.finished_at = record.updated_at = now
        record.expires_at = now + (self.retention_time if retention is None else retention)
        record.owner = record.lease_until = record.wake_at = None
        if events:
            record.outbox_json = execution.outbox_json()
        await self.store.save_run(record, steps=execution.take_unsaved())
        if events and await publish(execution.container, events):
            record.outbox_json = None
            await self.store.save_run(record)

    def detach(self, work: Coroutine[Any, Any, None]) -> None:
        """Continue a run in the background (``background_execution`` steps)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background workflow work failed", exc_info=task.exception())

    def _durable_keys(self) -> Iterator[_Key]:
        return (key for key, execution in self.active.items() if execution.durable)

    async def _renew_leases(self) -> None:
        try:
            while any(True for _ in self._durable_keys()):
                await asyncio.sleep(self.lease_seconds / 3)
                keys = list(self._durable_keys())
                try:
                    lease_until = self.clock() + self.lease_seconds
                    await self.store.renew_leases(self.owner, keys, lease_until)
                except Exception:
                    logger.exception("renewing run leases failed; retrying at the next beat")
        finally:
            self._heartbeat = None

    async def drain(self) -> None:
        """Wait until background step work has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Wait for background work, then stop renewing leases."""
        await self.drain()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
