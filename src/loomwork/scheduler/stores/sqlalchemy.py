"""SQLAlchemy schedule store: tick claims and run records in SQLite or PostgreSQL.

One table, ``<prefix>job_runs``, whose primary key ``(job, fire_time)`` is the unique key
that lets exactly one instance claim a tick: a claim is ``INSERT ... ON CONFLICT DO
NOTHING`` and the caller whose row went in runs the tick.

Claims of one job are serialised so that the overlap and limit checks see every earlier
claim: on PostgreSQL the claim transaction first takes an advisory lock on the job name
(released at commit); on SQLite it starts with a write statement (marking expired leases),
which takes the database's single writer lock before anything is read.

Statements run in a worker thread: a database that hangs, or a SQLite busy wait, must not
freeze the event loop that runs the handlers and their heartbeats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from typing_extensions import override

from loomwork.db import create_missing_tables, engine_for
from loomwork.scheduler._records import EXECUTED_OUTCOMES, JobRun, RunOutcome
from loomwork.scheduler.stores._port import ABANDONED_PREFIX, ABANDONED_SUFFIX, ScheduleStore

_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_RUNNING = RunOutcome.RUNNING.value
_MICROSECOND = timedelta(microseconds=1)
_T = TypeVar("_T")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime; SQLite keeps it as naive UTC text of fixed width."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    @override
    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    @override
    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_table(prefix: str = "loomwork_") -> sa.Table:
    """Declare ``<prefix>job_runs`` on a fresh :class:`~sqlalchemy.MetaData`."""
    table = sa.Table(
        f"{prefix}job_runs",
        sa.MetaData(),
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("fire_time", UtcDateTime(), primary_key=True),
        sa.Column("manual", sa.Boolean, nullable=False),
        sa.Column("instance_id", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime()),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("error", sa.Text),
    )
    sa.Index(f"ix_{prefix}job_runs_job_outcome", table.c.job, table.c.outcome)
    sa.Index(f"ix_{prefix}job_runs_fire_time", table.c.fire_time)
    return table


class SqlAlchemyScheduleStore(ScheduleStore):
    """Schedule store on SQLite or PostgreSQL through SQLAlchemy Core.

    ``url_or_engine``: a database URL (the store creates, and on :meth:`close` disposes,
    an engine from :func:`loomwork.db.create_engine`) or an engine the caller owns (for
    SQLite, made by that function too, so the busy timeout is on). The table is created on
    first use; :meth:`create_tables` creates it up front.
    """

    def __init__(
        self, url_or_engine: str | sa.URL | sa.Engine, *, table_prefix: str = "loomwork_"
    ) -> None:
        self._engine, self._owns_engine = engine_for(
            url_or_engine, supported=tuple(_INSERTS), what="the SQL schedule store"
        )
        dialect = self._engine.dialect.name
        self.table = build_table(table_prefix)
        self._insert = _INSERTS[dialect]
        self._postgres = dialect == "postgresql"
        self._ready = False

    @property
    def engine(self) -> sa.Engine:
        """The engine the store runs its statements on."""
        return self._engine

    def create_tables(self) -> None:
        """Create the table and its indexes if they are missing (idempotent)."""
        assert self.table.metadata is not None
        create_missing_tables(self.table.metadata, self._engine)
        self._ready = True

    @override
    async def claim(
        self,
        job: str,
        fire_time: datetime,
        *,
        instance_id: str,
        now: datetime,
        lease_until: datetime,
        skip_if_running: bool,
        max_executions: int | None,
    ) -> JobRun | None:
        run = JobRun(job, fire_time, instance_id, now, RunOutcome.RUNNING, None, None, lease_until)
        return await asyncio.to_thread(self._claim, run, skip_if_running, max_executions)

    def _claim(self, run: JobRun, skip_if_running: bool, limit: int | None) -> JobRun | None:
        with self._serialised(run.job, run.started_at) as conn:
            outcome = RunOutcome.RUNNING
            if limit is not None and self._executions(conn, run.job) >= limit:
                outcome = RunOutcome.SKIPPED_LIMIT
            elif skip_if_running and self._live(conn, run.job, run.started_at):
                outcome = RunOutcome.SKIPPED_OVERLAP
            if outcome is not RunOutcome.RUNNING:
                run = JobRun(
                    run.job,
                    run.fire_time,
                    run.instance_id,
                    run.started_at,
                    outcome,
                    finished_at=run.started_at,
                )
            # RETURNING rather than rowcount: some drivers report -1 for this statement.
            statement = (
                self._insert(self.table)
                .on_conflict_do_nothing(index_elements=["job", "fire_time"])
                .returning(self.table.c.job)
            )
            inserted = conn.execute(statement, _values(run)).first()
            return run if inserted is not None else None

    @override
    async def start_manual(
        self,
        job: str,
        *,
        instance_id: str,
        now: datetime,
        lease_until: datetime,
        skip_if_running: bool,
    ) -> JobRun | None:
        run = JobRun(
            job, now, instance_id, now, RunOutcome.RUNNING, lease_until=lease_until, manual=True
        )
        return await asyncio.to_thread(self._start_manual, run, skip_if_running)

    def _start_manual(self, run: JobRun, skip_if_running: bool) -> JobRun | None:
        with self._serialised(run.job, run.started_at) as conn:
            if skip_if_running and self._live(conn, run.job, run.started_at):
                return None
            taken = conn.execute(
                sa.select(self.table.c.fire_time).where(
                    self.table.c.job == run.job, self.table.c.fire_time >= run.fire_time
                )
            ).scalars()
            fire_time = _first_free(run.fire_time, set(taken))
            run = JobRun(
                run.job,
                fire_time,
                run.instance_id,
                run.started_at,
                run.outcome,
                lease_until=run.lease_until,
                manual=True,
            )
            conn.execute(sa.insert(self.table), _values(run))
            return run

    @override
    async def finish(
        self,
        job: str,
        fire_time: datetime,
        *,
        outcome: RunOutcome,
        finished_at: datetime,
        error: str | None = None,
    ) -> None:
        statement = (
            sa.update(self.table)
            .where(self.table.c.job == job, self.table.c.fire_time == fire_time)
            .values(outcome=outcome.value, finished_at=finished_at, error=error, lease_until=None)
        )
        await asyncio.to_thread(self._write, statement)

    @override
    async def renew_lease(
        self, job: str, fire_time: datetime, *, instance_id: str, lease_until: datetime
    ) -> bool:
        t = self.table.c
        statement = (
            sa.update(self.table)
            .where(t.job == job, t.fire_time == fire_time, t.instance_id == instance_id)
            .where(t.outcome == _RUNNING)
            .values(lease_until=lease_until)
        )
        return await asyncio.to_thread(self._write, statement) == 1

    @override
    async def get_run(self, job: str, fire_time: datetime) -> JobRun | None:
        t = self.table.c
        query = sa.select(self.table).where(t.job == job, t.fire_time == fire_time)
        rows = await asyncio.to_thread(self._read, query)
        return _run(rows[0]) if rows else None

    @override
    async def list_runs(
        self, job: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[JobRun]:
        t = self.table.c
        query = sa.select(self.table).order_by(t.fire_time.desc(), t.job).limit(limit)
        query = query.offset(offset)
        if job is not None:
            query = query.where(t.job == job)
        return [_run(row) for row in await asyncio.to_thread(self._read, query)]

    @override
    async def last_fire_time(self, job: str) -> datetime | None:
        t = self.table.c
        query = sa.select(sa.func.max(t.fire_time)).where(t.job == job, t.manual.is_(False))
        rows = await asyncio.to_thread(self._read, query)
        # max() loses the column type on SQLite; convert the raw value ourselves.
        return _as_utc(rows[0][0])

    @override
    async def has_running(self, job: str, now: datetime) -> bool:
        return await asyncio.to_thread(self._in_read, self._live, job, now)

    @override
    async def count_executions(self, job: str) -> int:
        return await asyncio.to_thread(self._in_read, self._executions, job)

    @override
    async def prune_runs(self, job: str, *, finished_before: datetime) -> int:
        return await asyncio.to_thread(self._prune, job, finished_before)

    def _prune(self, job: str, finished_before: datetime) -> int:
        t = self.table.c
        latest = (
            sa.select(sa.func.max(t.fire_time))
            .where(t.job == job, t.manual.is_(False))
            .scalar_subquery()
        )
        statement = sa.delete(self.table).where(
            t.job == job,
            t.outcome != _RUNNING,
            t.finished_at < finished_before,
            sa.or_(t.manual.is_(True), t.fire_time != latest),
        )
        return self._write(statement)

    @override
    async def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    @contextmanager
    def _serialised(self, job: str, now: datetime) -> Iterator[sa.Connection]:
        """A write transaction in which no other claim of the same job can interleave."""
        with self._begin() as conn:
            if self._postgres:
                key = sa.func.hashtextextended(f"loomwork.scheduler:{job}", 0)
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            conn.execute(self._expire_statement(job, now))
            yield conn

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        if not self._ready:
            self.create_tables()
        return self._engine.begin()

    def _write(self, statement: sa.Executable) -> int:
        with self._begin() as conn:
            return int(conn.execute(statement).rowcount)

    def _read(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        with self._begin() as conn:
            return list(conn.execute(query))

    def _in_read(self, read: Callable[..., _T], *args: Any) -> _T:
        with self._begin() as conn:
            return read(conn, *args)

    def _live(self, conn: sa.Connection, job: str, now: datetime) -> bool:
        t = self.table.c
        query = sa.select(t.fire_time).where(
            t.job == job, t.outcome == _RUNNING, t.lease_until > now
        )
        return conn.execute(query.limit(1)).first() is not None

    def _executions(self, conn: sa.Connection, job: str) -> int:
        t = self.table.c
        query = sa.select(sa.func.count()).where(
            t.job == job, t.manual.is_(False), t.outcome.in_(EXECUTED_OUTCOMES)
        )
        return int(conn.execute(query).scalar_one())

    def _expire_statement(self, job: str, now: datetime) -> sa.Update:
        t = self.table.c
        error = sa.literal(ABANDONED_PREFIX) + t.instance_id + sa.literal(ABANDONED_SUFFIX)
        return (
            sa.update(self.table)
            .where(t.job == job, t.outcome == _RUNNING)
            .where(sa.or_(t.lease_until.is_(None), t.lease_until <= now))
            .values(outcome=RunOutcome.FAILED.value, finished_at=now, lease_until=None, error=error)
        )


def _first_free(moment: datetime, taken: set[datetime]) -> datetime:
    while moment in taken:
        moment += _MICROSECOND
    return moment


def _values(run: JobRun) -> dict[str, Any]:
    return {
        "job": run.job,
        "fire_time": run.fire_time,
        "manual": run.manual,
        "instance_id": run.instance_id,
        "outcome": run.outcome.value,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "lease_until": run.lease_until,
        "error": run.error,
    }


def _run(row: sa.Row[Any]) -> JobRun:
    return JobRun(
        job=row.job,
        fire_time=row.fire_time,
        instance_id=row.instance_id,
        started_at=row.started_at,
        outcome=RunOutcome(row.outcome),
        finished_at=row.finished_at,
        error=row.error,
        lease_until=row.lease_until,
        manual=bool(row.manual),
    )


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
