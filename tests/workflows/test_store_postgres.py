"""The SQLAlchemy store on PostgreSQL passes the contract and survives lost connections."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import sqlalchemy as sa
from store_contract import WF, StoreContract, create, make_run, make_step

from loomwork.workflows._records import RunState
from loomwork.workflows.stores import ExecutionStore
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[SqlAlchemyStore]:
    """A store on fresh tables of the session database, dropped afterwards."""
    store = SqlAlchemyStore(pg_url, table_prefix=f"t{secrets.token_hex(4)}_")
    yield store
    store.tables.metadata.drop_all(store.engine)
    await store.close()


@pytest.fixture
def admin(pg_url: str) -> Iterator[sa.Connection]:
    """A separate autocommit connection that can terminate the store's backends."""
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_store: SqlAlchemyStore) -> ExecutionStore:
        return pg_store


def terminate_other_backends(admin: sa.Connection) -> int:
    """Kill every other connection to the test database; return how many were killed."""
    return len(
        admin.exec_driver_sql(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).all()
    )


async def test_next_call_works_after_connections_were_killed(
    pg_store: SqlAlchemyStore, admin: sa.Connection
) -> None:
    await create(pg_store, make_run())
    assert terminate_other_backends(admin) >= 1
    await pg_store.save_step(WF, "tx-1", make_step())
    assert terminate_other_backends(admin) >= 1
    loaded = await pg_store.load_run(WF, "tx-1")
    assert loaded is not None
    assert loaded.steps == {"reserve": make_step()}


CALLS: dict[str, Callable[[SqlAlchemyStore], Awaitable[object]]] = {
    "claim_due": lambda store: store.claim_due("w1", now=1e12, lease_until=2e12, limit=5),
    "load_run": lambda store: store.load_run(WF, "tx-1"),
}


@pytest.mark.parametrize("call", ["save_step", "save_run"])
async def test_checkpoint_writes_replace_a_killed_connection_and_succeed(
    pg_store: SqlAlchemyStore, admin: sa.Connection, call: str
) -> None:
    await create(pg_store, make_run())  # opens the store's checkpoint connection
    assert terminate_other_backends(admin) >= 1
    if call == "save_step":
        await pg_store.save_step(WF, "tx-1", make_step(attempt=9))
    else:
        await pg_store.save_run(make_run(state=RunState.DONE), steps=[make_step(attempt=9)])
    loaded = await pg_store.load_run(WF, "tx-1")
    assert loaded is not None
    assert loaded.steps == {"reserve": make_step(attempt=9)}
    assert loaded.state is (RunState.DONE if call == "save_run" else RunState.INVOKING)


@pytest.mark.parametrize("call", CALLS)
async def test_connection_killed_inside_a_call_raises_then_next_call_works(
    pg_store: SqlAlchemyStore, admin: sa.Connection, call: str
) -> None:
    await create(pg_store, make_run())
    kills: list[int] = []

    def kill_after_checkout(*_args: object) -> None:
        # Fires after the pool's liveness check, so the statement meets a dead connection.
        if not kills:
            kills.append(terminate_other_backends(admin))

    sa.event.listen(pg_store.engine.pool, "checkout", kill_after_checkout)
    try:
        with pytest.raises(sa.exc.DBAPIError) as raised:
            await CALLS[call](pg_store)
    finally:
        sa.event.remove(pg_store.engine.pool, "checkout", kill_after_checkout)
    assert len(kills) == 1
    assert kills[0] >= 1  # the pooled connection (and the checkpoint connection, if open)
    assert raised.value.connection_invalidated
    await pg_store.save_step(WF, "tx-1", make_step(attempt=7))
    loaded = await pg_store.load_run(WF, "tx-1")
    assert loaded is not None
    assert (loaded.state, loaded.owner) == (RunState.INVOKING, None)
    assert loaded.steps == {"reserve": make_step(attempt=7)}
