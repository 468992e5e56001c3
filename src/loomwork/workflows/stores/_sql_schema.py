"""Tables of the SQL execution store and the conversions between rows and records.

Two tables per prefix: ``<prefix>runs`` (one row per run, keyed by workflow and
transaction id) and ``<prefix>steps`` (one row per checkpointed step, keyed by run and step
key). Times are POSIX seconds stored as double precision. Payloads are text, never parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from loomwork.workflows._records import RunRecord, RunState, StepRecord, StepState

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
    return StepRecord(key=row["key"], **fields)
