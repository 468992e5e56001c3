"""SQLAlchemy execution store: durable runs in SQLite or PostgreSQL.

The store talks to a synchronous engine and its ``async`` methods call it inline, without a
thread hop: a checkpoint write sits on the run's critical path anyway (the next step must
not start before it is stored), a SQLite call takes microseconds, and a thread pool would
add more latency than it hides. Use a separate store (or process) per event loop if
PostgreSQL round trips must not block other coroutines.

Concurrency: every method is one transaction. Write transactions start with their write
statement, so on SQLite they hold the single writer lock from their first read on (no
``BEGIN IMMEDIATE`` needed, and no stale-snapshot upgrade errors); on PostgreSQL
``claim_due`` locks its candidates with ``FOR UPDATE SKIP LOCKED`` and conditional updates
re-check their condition on the newest row version.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler
from typing_extensions import override

from loomwork.db import create_missing_tables, engine_for
from loomwork.errors import NotFoundError
from loomwork.workflows._records import RunRecord, RunState, StepRecord
from loomwork.workflows.stores._packing import pack_step_values
from loomwork.workflows.stores._port import ExecutionStore
from loomwork.workflows.stores._sql_schema import (
    FINISHED_STATES,
    Statements,
    build_tables,
    key_params,
    run_from_row,
    run_values,
    step_from_row,
    step_values,
)

_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_PG_FOREIGN_KEY_VIOLATION = "23503"


class SqlAlchemyStore(ExecutionStore):
    """Execution store on SQLite or PostgreSQL through SQLAlchemy Core.

    ``url_or_engine``: a database URL (the store creates, and on :meth:`close` disposes,
    an engine with :func:`loomwork.db.create_engine`) or an engine the caller owns. A
    caller's SQLite engine should come from :func:`loomwork.db.create_engine` too, so that
    foreign keys and the busy timeout are on. Tables are named ``<table_prefix>runs`` and
    ``<table_prefix>steps`` and are created on first use; :attr:`tables` holds their
    definitions (for migrations).
    """

    def __init__(
        self, url_or_engine: str | sa.URL | sa.Engine, *, table_prefix: str = "loomwork_"
    ) -> None:
        self._engine, self._owns_engine = engine_for(
            url_or_engine, supported=tuple(_INSERTS), what="the SQL execution store"
        )
        dialect = self._engine.dialect.name
        self.tables = build_tables(table_prefix)
        self._sql = Statements(self.tables, _INSERTS[dialect])
        dialect_ = self._engine.dialect
        self._upsert_step = _DriverStatement(self._sql.upsert_step, dialect_)
        self._insert_run = _DriverStatement(self._sql.insert_run, dialect_)
        self._update_run = _DriverStatement(self._sql.update_run, dialect_)
        self._dbapi: Any = self._engine.dialect.loaded_dbapi
        self._packs = dialect == "sqlite"
        self._ready = False
        self._hot: Any = None
        self._hot_lock = threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        """The engine the store runs its statements on."""
        return self._engine

    def create_tables(self) -> None:
        """Create the store's tables and indexes if they are missing (idempotent)."""
        create_missing_tables(self.tables.metadata, self._engine)
        self._ready = True

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        if not self._ready:
            self.create_tables()
        return self._engine.begin()

    @override
    async def create_run(self, run: RunRecord, *, replace_finished: bool) -> RunRecord | None:
        row = {"workflow": run.workflow, "transaction_id": run.transaction_id, **run_values(run)}
        # Fast path, one statement: the key is new (the usual case).
        inserted = self._run_driver([(self._insert_run, row)], run.workflow, run.transaction_id)
        if inserted[0]:
            return None
        key = key_params(run.workflow, run.transaction_id)
        with self._begin() as conn:
            if replace_finished and conn.execute(self._sql.delete_finished, key).rowcount:
                conn.execute(self._sql.delete_steps, key)
            while True:
                if conn.execute(self._sql.insert_run, row).first() is not None:
                    return None
                existing = self._load(conn, key)
                if existing is not None:
                    return existing
                # The conflicting run was deleted between our insert and our read.

    @override
    async def load_run(self, workflow: str, transaction_id: str) -> RunRecord | None:
        with self._begin() as conn:
            return self._load(conn, key_params(workflow, transaction_id))

    def _load(self, conn: sa.Connection, key: dict[str, str]) -> RunRecord | None:
        row = conn.execute(self._sql.select_run, key).mappings().first()
        if row is None:
            return None
        steps = (step_from_row(s) for s in conn.execute(self._sql.select_steps, key).mappings())
        return run_from_row(row, {step.key: step for step in steps})

    @override
    async def save_step(self, workflow: str, transaction_id: str, step: StepRecord) -> None:
        # The hot path of durable runs: one upsert on a pooled DBAPI connection with SQL
        # compiled once. SQLAlchemy's execute() would double its cost on SQLite.
        values = self._step_values(workflow, transaction_id, step)
        self._run_driver([(self._upsert_step, values)], workflow, transaction_id)

    @override
    async def save_run(self, run: RunRecord, *, steps: Sequence[StepRecord] = ()) -> None:
        workflow, tx = run.workflow, run.transaction_id
        work = [(self._upsert_step, self._step_values(workflow, tx, step)) for step in steps]
        work.append((self._update_run, {**key_params(workflow, tx), **run_values(run)}))
        if not self._run_driver(work, workflow, tx)[-1]:
            raise _run_not_found(workflow, tx)

    def _step_values(self, workflow: str, tx: str, step: StepRecord) -> dict[str, Any]:
        values = step_values(workflow, tx, step)
        return pack_step_values(values) if self._packs else values

    def _run_driver(
        self, work: list[tuple[_DriverStatement, dict[str, Any]]], workflow: str, tx: str
    ) -> list[int]:
        """Run statements of one run in one transaction on the store's checkpoint connection.

        Returns, per statement, how many rows it returned (if it returns rows) or its
        rowcount (psycopg reports -1 for inserts, hence RETURNING). The connection is kept
        between calls, which spares a pool checkout and its liveness ping per checkpoint; a
        connection found dead is replaced and the statements run once more (they are
        idempotent: upserts, conditional inserts and updates).
        """
        if not self._ready:
            self.create_tables()
        with self._hot_lock:
            try:
                return self._run_on_hot(work, workflow, tx)
            except sa.exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                return self._run_on_hot(work, workflow, tx)

    def _run_on_hot(
        self, work: list[tuple[_DriverStatement, dict[str, Any]]], workflow: str, tx: str
    ) -> list[int]:
        if self._hot is None:
            self._hot = self._engine.raw_connection()
        connection = self._hot
        statement, params = work[0][0].sql, None
        try:
            counts = []
            cursor = connection.cursor()
            try:
                for driver_statement, values in work:
                    statement, params = driver_statement.sql, driver_statement.params(values)
                    cursor.execute(statement, params)
                    rows = cursor.fetchall() if cursor.description else None
                    counts.append(len(rows) if rows is not None else cursor.rowcount)
            finally:
                cursor.close()
            connection.commit()
        except self._dbapi.IntegrityError as exc:
            connection.rollback()
            if _is_foreign_key_violation(exc):
                raise _run_not_found(workflow, tx) from exc
            raise _driver_error(exc, statement, params, False, self._engine.dialect) from exc
        except self._dbapi.Error as exc:
            self._hot = None
            lost = self._engine.dialect.is_disconnect(exc, connection.dbapi_connection, None)
            if lost:
                connection.invalidate(exc)
            connection.close()
            raise _driver_error(exc, statement, params, lost, self._engine.dialect) from exc
        return counts

    @override
    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        states: Iterable[RunState] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        runs = self.tables.runs
        query = sa.select(runs).order_by(
            runs.c.created_at.desc(), runs.c.workflow.desc(), runs.c.transaction_id.desc()
        )
        if workflow is not None:
            query = query.where(runs.c.workflow == workflow)
        if states is not None:
            query = query.where(runs.c.state.in_([state.value for state in states]))
        query = query.limit(limit).offset(offset)
        with self._begin() as conn:
            return [run_from_row(row, {}) for row in conn.execute(query).mappings()]

    @override
    async def acquire(
        self, workflow: str, transaction_id: str, owner: str, now: float, lease_until: float
    ) -> bool:
        params = {
            **key_params(workflow, transaction_id),
            "b_owner": owner,
            "b_now": now,
            "b_lease_until": lease_until,
        }
        with self._begin() as conn:
            return bool(conn.execute(self._sql.acquire, params).rowcount)

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
        if limit <= 0:
            return []
        params = {"b_owner": owner, "b_now": now, "b_lease_until": lease_until, "b_limit": limit}
        statement = self._sql.claim
        if workflow is not None:
            statement = self._sql.claim_workflow
            params["b_only_workflow"] = workflow
        with self._begin() as conn:
            return [(row[0], row[1]) for row in conn.execute(statement, params)]

    @override
    async def renew_leases(
        self, owner: str, keys: Iterable[tuple[str, str]], lease_until: float
    ) -> None:
        params = [
            {**key_params(wf, tx), "b_owner": owner, "b_lease_until": lease_until}
            for wf, tx in keys
        ]
        if params:
            with self._begin() as conn:
                conn.execute(self._sql.renew, params)

    @override
    async def list_outbox(self, limit: int) -> list[RunRecord]:
        runs = self.tables.runs
        query = (
            sa.select(runs)
            .where(runs.c.outbox_json.isnot(None), runs.c.state.in_(FINISHED_STATES))
            .order_by(runs.c.finished_at)
            .limit(limit)
        )
        with self._begin() as conn:
            return [run_from_row(row, {}) for row in conn.execute(query).mappings()]

    @override
    async def delete_expired(self, now: float) -> int:
        with self._begin() as conn:
            expired = conn.execute(self._sql.expire, {"b_now": now})
            keys = [key_params(workflow, transaction_id) for workflow, transaction_id in expired]
            if keys:
                conn.execute(self._sql.delete_steps, keys)
        return len(keys)

    @override
    async def close(self) -> None:
        with self._hot_lock:
            if self._hot is not None:
                self._hot.close()
                self._hot = None
        if self._owns_engine:
            self._engine.dispose()


class _DriverStatement:
    """A statement compiled once to the driver's SQL, run without SQLAlchemy's executor."""

    def __init__(self, statement: sa.ClauseElement, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self._names = compiled.positiontup

    def params(self, values: dict[str, Any]) -> Any:
        """The parameters in the driver's style: a tuple for SQLite, the dict for psycopg."""
        if self._names is None:
            return values
        return tuple(values[name] for name in self._names)


def _driver_error(
    exc: Exception, sql: str, params: Any, lost: bool, dialect: sa.Dialect
) -> Exception:
    """Wrap a DBAPI error as SQLAlchemy would, so callers see one family of errors."""
    return sa.exc.DBAPIError.instance(
        sql,
        params,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )


def _is_foreign_key_violation(exc: Exception) -> bool:
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate == _PG_FOREIGN_KEY_VIOLATION or "FOREIGN KEY" in str(exc)


def _run_not_found(workflow: str, transaction_id: str) -> NotFoundError:
    return NotFoundError(
        "run", f"{workflow}/{transaction_id}", "create it with create_run before saving it"
    )
