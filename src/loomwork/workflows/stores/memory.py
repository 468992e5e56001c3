"""In-process execution store: the reference implementation of the port."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from typing_extensions import override

from loomwork.errors import NotFoundError
from loomwork.workflows._records import RunRecord, RunState, StepRecord
from loomwork.workflows.stores._port import ExecutionStore


class MemoryStore(ExecutionStore):
    """Keeps runs in a dict; nothing survives the process.

    Used by tests and by runs that are not durable. Records are copied in and out so
    callers cannot alias them.
    """

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], RunRecord] = {}

    @override
    async def create_run(self, run: RunRecord, *, replace_finished: bool) -> RunRecord | None:
        key = (run.workflow, run.transaction_id)
        existing = self._runs.get(key)
        if existing is not None and not (replace_finished and existing.state.finished):
            return _copy(existing)
        self._runs[key] = replace(run, steps={})
        return None

    @override
    async def load_run(self, workflow: str, transaction_id: str) -> RunRecord | None:
        run = self._runs.get((workflow, transaction_id))
        return None if run is None else _copy(run)

    @override
    async def save_step(self, workflow: str, transaction_id: str, step: StepRecord) -> None:
        self._stored(workflow, transaction_id).steps[step.key] = replace(step)

    @override
    async def save_run(self, run: RunRecord, *, steps: Sequence[StepRecord] = ()) -> None:
        stored = self._stored(run.workflow, run.transaction_id)
        kept = {**stored.steps, **{step.key: replace(step) for step in steps}}
        self._runs[(run.workflow, run.transaction_id)] = replace(run, steps=kept)

    def _stored(self, workflow: str, transaction_id: str) -> RunRecord:
        run = self._runs.get((workflow, transaction_id))
        if run is None:
            raise NotFoundError(
                "run", f"{workflow}/{transaction_id}", "create it with create_run before saving it"
            )
        return run

    @override
    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        wanted = None if states is None else frozenset(states)
        runs = [
            replace(run, steps={})
            for run in self._runs.values()
            if (workflow is None or run.workflow == workflow)
            and (wanted is None or run.state in wanted)
        ]
        # Ties are broken by key so that pages never overlap, as in the SQL store.
        runs.sort(key=lambda run: (run.created_at, run.workflow, run.transaction_id), reverse=True)
        return runs[offset : offset + limit]

    @override
    async def acquire(
        self, workflow: str, transaction_id: str, owner: str, now: float, lease_until: float
    ) -> bool:
        run = self._runs.get((workflow, transaction_id))
        if run is None or run.state.finished or not _lease_free(run, owner, now):
            return False
        run.owner, run.lease_until, run.wake_at = owner, lease_until, now
        return True

    @override
    async def claim_due(
        self,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
        *,
        workflow: str | None = None,
    ) -> list[tuple[str, str]]:
        due = [
            run
            for run in self._runs.values()
            if _claimable(run, now) and workflow in (None, run.workflow)
        ]
        # Longest-waiting first, so a backlog larger than ``limit`` cannot starve a run.
        due.sort(key=lambda run: run.wake_at or 0.0)
        claimed = due[: max(limit, 0)]
        for run in claimed:
            run.owner, run.lease_until, run.wake_at = owner, lease_until, now
        return [(run.workflow, run.transaction_id) for run in claimed]

    @override
    async def renew_leases(
        self, owner: str, keys: Iterable[tuple[str, str]], lease_until: float
    ) -> None:
        for key in keys:
            run = self._runs.get(key)
            if run is not None and run.owner == owner:
                run.lease_until = lease_until

    @override
    async def list_outbox(self, limit: int) -> list[RunRecord]:
        pending = [
            replace(run, steps={})
            for run in self._runs.values()
            if run.state.finished and run.outbox_json is not None
        ]
        pending.sort(key=lambda run: run.finished_at or 0.0)
        return pending[:limit]

    @override
    async def delete_expired(self, now: float) -> int:
        expired = [
            key
            for key, run in self._runs.items()
            if run.state.finished
            and run.expires_at is not None
            and run.expires_at <= now
            and run.outbox_json is None
        ]
        for key in expired:
            del self._runs[key]
        return len(expired)


def _lease_free(run: RunRecord, owner: str | None, now: float) -> bool:
    return run.owner is None or run.owner == owner or (run.lease_until or 0.0) <= now


def _claimable(run: RunRecord, now: float) -> bool:
    due = run.wake_at is not None and run.wake_at <= now
    return due and not run.state.finished and _lease_free(run, None, now)


def _copy(run: RunRecord) -> RunRecord:
    return replace(run, steps={key: replace(step) for key, step in run.steps.items()})
