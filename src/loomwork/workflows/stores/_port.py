"""The execution-store port: where durable workflow runs keep their checkpoints.

Implementations: :mod:`loomwork.workflows.stores.memory` (the reference, in-process) and
:mod:`loomwork.workflows.stores.sqlalchemy` (SQLite and PostgreSQL). Both must pass
``tests/workflows/store_contract.py``.

Times are POSIX seconds (floats) from the engine's clock; stores never read the wall clock
themselves, so tests can move time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

from loomwork.workflows._records import RunRecord, RunState, StepRecord


class ExecutionStore(ABC):
    """Keeps runs and their per-step checkpoints.

    Implementers must make every method atomic on its own, and must keep a record's
    payload text exactly as given.
    """

    @abstractmethod
    async def create_run(self, run: RunRecord, *, replace_finished: bool) -> RunRecord | None:
        """Insert ``run`` (its ``steps`` are ignored; a new run has none).

        If a run with the same (workflow, transaction_id) exists, return it (with steps)
        and change nothing, except when it has finished and ``replace_finished`` is true:
        then it and its steps are replaced by ``run`` and ``None`` is returned. Returns
        ``None`` when ``run`` was stored. Must be safe against concurrent creators: exactly
        one of them stores its run.
        """

    @abstractmethod
    async def load_run(self, workflow: str, transaction_id: str) -> RunRecord | None:
        """Return the run with all its step records, or ``None``."""

    @abstractmethod
    async def save_step(self, workflow: str, transaction_id: str, step: StepRecord) -> None:
        """Insert or replace the record of one step (keyed by run and ``step.key``).

        Raises :class:`loomwork.errors.NotFoundError` when the run does not exist.
        """

    @abstractmethod
    async def save_run(self, run: RunRecord, *, steps: Sequence[StepRecord] = ()) -> None:
        """Update the run-level fields of an existing run (``run.steps`` is ignored).

        ``steps`` are upserted like :meth:`save_step`, in the same transaction: a run's
        last checkpoint and its final state are written together.

        Raises :class:`loomwork.errors.NotFoundError` when the run does not exist.
        """

    @abstractmethod
    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs (without step records), newest first by ``created_at``."""

    @abstractmethod
    async def acquire(
        self, workflow: str, transaction_id: str, owner: str, now: float, lease_until: float
    ) -> bool:
        """Take ownership of one unfinished run whose lease is free or expired.

        Returns False when another owner holds a live lease (``lease_until > now``), when
        the run has finished, or when it does not exist. ``owner`` itself may re-acquire.
        On success sets ``owner``, ``lease_until``, and ``wake_at = now``.
        """

    @abstractmethod
    async def claim_due(
        self,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
        *,
        workflow: str | None = None,
    ) -> list[tuple[str, str]]:
        """Claim up to ``limit`` unfinished runs that need a driver.

        A run needs a driver when ``wake_at <= now`` and its lease is free or expired
        (its owner died, or a retry interval has passed); the longest-waiting runs (lowest
        ``wake_at``) go first. Each claimed run gets ``owner``,
        ``lease_until`` and ``wake_at = now``. Concurrent callers never claim the same run.
        With ``workflow``, only runs of that workflow are claimed.
        Returns (workflow, transaction_id) pairs.
        """

    @abstractmethod
    async def renew_leases(
        self, owner: str, keys: Iterable[tuple[str, str]], lease_until: float
    ) -> None:
        """Extend ``owner``'s leases on the given runs (runs it no longer owns are left)."""

    @abstractmethod
    async def list_outbox(self, limit: int) -> list[RunRecord]:
        """Finished runs whose ``outbox_json`` is set, oldest ``finished_at`` first.

        Returned without step records; these are runs whose events are not yet published.
        """

    @abstractmethod
    async def delete_expired(self, now: float) -> int:
        """Delete finished runs whose ``expires_at <= now`` with their steps; return count.

        Runs whose events are still unpublished (``outbox_json`` set) are kept.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections; the store is not used afterwards."""
