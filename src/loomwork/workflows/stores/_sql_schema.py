"""Tables and statements of the SQL execution store, and the row/record conversions.

Two tables per prefix: ``<prefix>runs`` (one row per run, keyed by workflow and
transaction id) and ``<prefix>steps`` (one row per checkpointed step, keyed by run and step
key). Times are POSIX seconds stored as double precision. Payloads are text, never parsed
(large step payloads on SQLite are stored compressed: :mod:`._packing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from loomwork.workflows._records import RunRecord, RunState, StepRecord, StepState
from loomwork.workflows.stores._packing import PACKED_FIELDS, unpack

FINISHED_STATES = tuple(state.value for state in RunState if state.finished)

RUN_FIELDS = (
    "state",
    "input_json",
    "context_json",
    "result_json",
    "errors_json",
    "owner",
    "lease_until",
    "wake_at",
    "created_at",
    "updated_at",
    "finished_at",
    "expires_at",
    "outbox_json",
)
STEP_FIELDS = (
    "state",
    "attempt",
    "output_json",
    "compensate_input_json",
    "error_json",
    "compensate_error_json",
    "wake_at",
    "updated_at",
    "events_json",
)


@dataclass(frozen=True, slots=True)
class Tables:
    """The store's metadata and its two tables."""

    metadata: sa.MetaData
    runs: sa.Table
    steps: sa.Table


def build_tables(prefix: str) -> Tables:
    """Declare the runs and steps tables, their names (and index names) prefixed."""
    metadata = sa.MetaData()
    runs = sa.Table(
        f"{prefix}runs",
        metadata,
        sa.Column("workflow", sa.String(), primary_key=True),
        sa.Column("transaction_id", sa.String(), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("input_json", sa.Text, nullable=False),
        sa.Column("context_json", sa.Text, nullable=False),
        sa.Column("result_json", sa.Text),
        sa.Column("errors_json", sa.Text, nullable=False),
        sa.Column("owner", sa.String()),
        sa.Column("lease_until", sa.Double),
        sa.Column("wake_at", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("expires_at", sa.Double),
        sa.Column("outbox_json", sa.Text),
    )
    # Partial indexes: finished and signal-waiting runs (NULL times) stay out of them, so
    # claim_due and delete_expired scan only candidates however many runs are kept.
    _partial_index(f"ix_{prefix}runs_wake_at", runs.c.wake_at)
    _partial_index(f"ix_{prefix}runs_expires_at", runs.c.expires_at)
    _partial_index(f"ix_{prefix}runs_outbox", runs.c.finished_at, runs.c.outbox_json)
    sa.Index(f"ix_{prefix}runs_created", runs.c.created_at, runs.c.workflow, runs.c.transaction_id)
    sa.Index(f"ix_{prefix}runs_workflow_created", runs.c.workflow, runs.c.created_at)
    steps = sa.Table(
        f"{prefix}steps",
        metadata,
        sa.Column("workflow", sa.String(), primary_key=True),
        sa.Column("transaction_id", sa.String(), primary_key=True),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("output_json", sa.Text),
        sa.Column("compensate_input_json", sa.Text),
        sa.Column("error_json", sa.Text),
        sa.Column("compensate_error_json", sa.Text),
        sa.Column("wake_at", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("events_json", sa.Text),
        sa.ForeignKeyConstraint(
            ["workflow", "transaction_id"],
            [runs.c.workflow, runs.c.transaction_id],
            ondelete="CASCADE",
            name=f"fk_{prefix}steps_run",
        ),
    )
    return Tables(metadata, runs, steps)


def _partial_index(name: str, column: sa.Column[Any], when: sa.Column[Any] | None = None) -> None:
    where = (column if when is None else when).isnot(None)
    sa.Index(name, column, postgresql_where=where, sqlite_where=where)


class Statements:
    """Every statement the SQL store runs, built once so SQLAlchemy's compiled cache hits.

    ``insert`` is the dialect's ``insert`` (it has the ``ON CONFLICT`` clauses).
    """

    def __init__(self, tables: Tables, insert: Any) -> None:
        runs, steps = tables.runs, tables.steps
        run_key = key_clause(runs)
        # RETURNING tells whether the row went in; rowcount is unreliable for inserts.
        self.insert_run = (
            insert(runs)
            .on_conflict_do_nothing(index_elements=[runs.c.workflow, runs.c.transaction_id])
            .returning(runs.c.workflow)
        )
        self.delete_finished = sa.delete(runs).where(run_key, runs.c.state.in_(FINISHED_STATES))
        # Explicit (besides ON DELETE CASCADE) for SQLite engines without foreign keys.
        self.delete_steps = sa.delete(steps).where(key_clause(steps))
        self.select_run = sa.select(runs).where(run_key)
        self.select_steps = sa.select(steps).where(key_clause(steps))
        upsert = insert(steps)
        self.upsert_step = upsert.on_conflict_do_update(
            index_elements=[steps.c.workflow, steps.c.transaction_id, steps.c.key],
            set_={name: upsert.excluded[name] for name in STEP_FIELDS},
        )
        self.update_run = (
            sa.update(runs).where(run_key).values({name: sa.bindparam(name) for name in RUN_FIELDS})
        )
        self._lease_statements(runs, run_key)

    def _lease_statements(self, runs: sa.Table, run_key: sa.ColumnElement[bool]) -> None:
        now: sa.BindParameter[float] = sa.bindparam("b_now")
        lease_free = sa.or_(
            runs.c.owner.is_(None), runs.c.lease_until.is_(None), runs.c.lease_until <= now
        )
        unfinished = runs.c.state.not_in(FINISHED_STATES)
        take: dict[str, sa.BindParameter[Any]] = {
            "owner": sa.bindparam("b_owner"),
            "lease_until": sa.bindparam("b_lease_until"),
        }
        self.acquire = (
            sa.update(runs)
            .where(run_key, unfinished, sa.or_(lease_free, runs.c.owner == take["owner"]))
            .values(**take, wake_at=now)
        )
        claimable = (runs.c.wake_at <= now, unfinished, lease_free)
        self.claim = _claim(runs, take, now, claimable)
        self.claim_workflow = _claim(
            runs, take, now, (*claimable, runs.c.workflow == sa.bindparam("b_only_workflow"))
        )
        self.renew = (
            sa.update(runs)
            .where(run_key, runs.c.owner == take["owner"])
            .values(lease_until=take["lease_until"])
        )
        self.expire = (
            sa.delete(runs)
            .where(
                runs.c.state.in_(FINISHED_STATES),
                runs.c.expires_at <= now,
                runs.c.outbox_json.is_(None),
            )
            .returning(runs.c.workflow, runs.c.transaction_id)
        )


def _claim(
    runs: sa.Table,
    take: dict[str, sa.BindParameter[Any]],
    now: sa.BindParameter[Any],
    conditions: tuple[sa.ColumnElement[bool], ...],
) -> sa.Update:
    due = (
        sa.select(runs.c.workflow, runs.c.transaction_id)
        .where(*conditions)
        .order_by(runs.c.wake_at)
        .limit(sa.bindparam("b_limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        sa.update(runs)
        .where(sa.tuple_(runs.c.workflow, runs.c.transaction_id).in_(due))
        .values(**take, wake_at=now)
        .returning(runs.c.workflow, runs.c.transaction_id)
    )


def key_clause(table: sa.Table) -> sa.ColumnElement[bool]:
    """``WHERE`` on a run's key, bound to the parameters :func:`key_params` makes."""
    return sa.and_(
        table.c.workflow == sa.bindparam("b_workflow"),
        table.c.transaction_id == sa.bindparam("b_transaction_id"),
    )


def key_params(workflow: str, transaction_id: str) -> dict[str, str]:
    """Parameters for :func:`key_clause`."""
    return {"b_workflow": workflow, "b_transaction_id": transaction_id}


def run_values(run: RunRecord) -> dict[str, Any]:
    """The column values of ``run``'s row (its steps excluded)."""
    values = {name: getattr(run, name) for name in RUN_FIELDS}
    values["state"] = run.state.value
    return values


def step_values(workflow: str, transaction_id: str, step: StepRecord) -> dict[str, Any]:
    """The column values of one step row."""
    return {
        "workflow": workflow,
        "transaction_id": transaction_id,
        "key": step.key,
        "state": step.state.value,
        "attempt": step.attempt,
        "output_json": step.output_json,
        "compensate_input_json": step.compensate_input_json,
        "error_json": step.error_json,
        "compensate_error_json": step.compensate_error_json,
        "wake_at": step.wake_at,
        "updated_at": step.updated_at,
        "events_json": step.events_json,
    }


def run_from_row(row: sa.RowMapping, steps: dict[str, StepRecord]) -> RunRecord:
    """Rebuild a run record from its row and its already loaded steps."""
    fields = {name: row[name] for name in RUN_FIELDS}
    fields["state"] = RunState(row["state"])
    return RunRecord(
        workflow=row["workflow"], transaction_id=row["transaction_id"], steps=steps, **fields
    )


def step_from_row(row: sa.RowMapping) -> StepRecord:
    """Rebuild a step record from its row."""
    fields = {name: row[name] for name in STEP_FIELDS}
    fields["state"] = StepState(row["state"])
    for name in PACKED_FIELDS:
        fields[name] = unpack(fields[name])
    return StepRecord(key=row["key"], **fields)
