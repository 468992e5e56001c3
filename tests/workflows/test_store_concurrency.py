"""Several OS processes share one database: claims and creations never collide.

Each worker is a spawned process with its own store (own engine, own connections), as
separate workers of a deployment would be. The workers start together at a barrier.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from store_contract import WF, create, make_run, make_step

from loomwork.workflows._records import RunState
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

pytestmark = pytest.mark.slow

PROCESSES = 4
DUE_RUNS = 300
RACED_KEYS = 40
CTX = multiprocessing.get_context("spawn")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def shared_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqlAlchemyStore]:
    """A store on a database the worker processes reach by URL and ``table_prefix``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = SqlAlchemyStore(url, table_prefix=f"c{secrets.token_hex(4)}_")
    store.create_tables()
    yield store
    store.tables.metadata.drop_all(store.engine)
    await store.close()


@dataclass(frozen=True)
class Worker:
    """What a worker process needs: where the store is, its name, and its siblings."""

    url: str
    prefix: str
    owner: str
    barrier: Any
    results: Any

    def run(self, body: Callable[[SqlAlchemyStore], Awaitable[Any]]) -> None:
        """Open a store, wait for the other workers, run ``body``, report its outcome."""

        async def main() -> Any:
            store = SqlAlchemyStore(self.url, table_prefix=self.prefix)
            try:
                store.create_tables()
                self.barrier.wait(timeout=60)
                return await body(store)
            finally:
                await store.close()

        self.results.put((self.owner, asyncio.run(main())))


def run_workers(store: SqlAlchemyStore, target: Callable[..., None], *args: Any) -> list[Any]:
    """Run ``target(worker, *args)`` in spawned processes; return (owner, outcome) pairs."""
    url = store.engine.url.render_as_string(hide_password=False)
    prefix = store.tables.runs.name.removesuffix("runs")
    barrier, results = CTX.Barrier(PROCESSES), CTX.Queue()
    processes = [
        CTX.Process(target=target, args=(Worker(url, prefix, f"w{i}", barrier, results), *args))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=90) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    results.close()
    results.join_thread()
    return outcomes


def claim_until_empty(worker: Worker) -> None:  # runs in a worker process
    async def body(store: SqlAlchemyStore) -> list[tuple[str, str]]:
        claimed: list[tuple[str, str]] = []
        while batch := await store.claim_due(worker.owner, now=1_000.0, lease_until=1e9, limit=3):
            claimed.extend(batch)
        return claimed

    worker.run(body)


def create_each(worker: Worker, replace: bool) -> None:  # runs in a worker process
    async def body(store: SqlAlchemyStore) -> dict[str, str | None]:
        seen: dict[str, str | None] = {}
        for i in range(RACED_KEYS):
            run = make_run(f"tx-{i}", owner=worker.owner, input_json=f'"{worker.owner}"')
            existing = await store.create_run(run, replace_finished=replace)
            seen[run.transaction_id] = None if existing is None else existing.owner
        return seen

    worker.run(body)


async def test_every_due_run_is_claimed_exactly_once(shared_store: SqlAlchemyStore) -> None:
    runs = [make_run(f"tx-{i}", wake_at=float(i % 17)) for i in range(DUE_RUNS)]
    await create(shared_store, *runs, make_run("waiting-for-signal", wake_at=None))
    outcomes = run_workers(shared_store, claim_until_empty)
    claims = Counter(key for _owner, claimed in outcomes for key in claimed)
    assert set(claims) == {(WF, run.transaction_id) for run in runs}
    assert set(claims.values()) == {1}
    for owner, claimed in outcomes:
        for _workflow, transaction_id in claimed:
            stored = await shared_store.load_run(WF, transaction_id)
            assert stored is not None
            assert (stored.owner, stored.wake_at) == (owner, 1_000.0)
    waiting = await shared_store.load_run(WF, "waiting-for-signal")
    assert waiting is not None
    assert waiting.owner is None


@pytest.mark.parametrize("replace", [False, True], ids=["new", "replace-finished"])
async def test_exactly_one_concurrent_creator_wins(
    shared_store: SqlAlchemyStore, replace: bool
) -> None:
    if replace:
        for i in range(RACED_KEYS):
            await create(shared_store, make_run(f"tx-{i}", state=RunState.DONE, owner="old"))
            await shared_store.save_step(WF, f"tx-{i}", make_step())
    outcomes = run_workers(shared_store, create_each, replace)
    for i in range(RACED_KEYS):
        tx = f"tx-{i}"
        winners = [owner for owner, seen in outcomes if seen[tx] is None]
        assert len(winners) == 1, (tx, outcomes)
        assert all(seen[tx] == winners[0] for owner, seen in outcomes if owner != winners[0])
        stored = await shared_store.load_run(WF, tx)
        assert stored is not None
        assert (stored.owner, stored.input_json, stored.steps) == (
            winners[0],
            f'"{winners[0]}"',
            {},
        )
