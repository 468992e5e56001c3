"""Read verbs: list, count and retrieve, on a connection already in a transaction.

``list_records`` takes the shared statement of the query's shape (:mod:`._shaped`) where
there is one, and builds the statement per call otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from loomwork.errors import NotFoundError, ValidationError
from loomwork.modules._filters import (
    Filters,
    in_list,
    order_by,
    selected_columns,
    where_clauses,
)
from loomwork.modules._shaped import shared_statement
from loomwork.modules._table import ModelInfo

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Query:
    """The arguments of ``list_<plural>`` after defaults."""

    filters: Filters | None = None
    skip: int = 0
    take: int | None = None
    order: Mapping[str, str] | None = None
    select: Sequence[str] | None = None
    with_deleted: bool = False


def list_records(info: ModelInfo, conn: sa.Connection, query: Query) -> list[Record]:
    """Rows matching ``query`` as JSON-ready dicts."""
    _check_page(info, query)
    dialect = conn.dialect.name
    shared = shared_statement(info, dialect, query)
    if shared is None:
        statement, keys = _build_statement(info, dialect, query)
        return info.to_json(keys, conn.execute(statement).fetchall(), dialect)
    statement, keys, params = shared
    return info.to_json(keys, conn.execute(statement, params).fetchall(), dialect)


def _build_statement(
    info: ModelInfo, dialect: str, query: Query
) -> tuple[sa.Select[Any], list[str]]:
    """The statement of ``query`` with its values inline (built per call)."""
    columns = selected_columns(info, query.select)
    statement = (
        sa.select(*(info.read_expression(column, dialect) for column in columns))
        .where(*_conditions(info, dialect, query))
        .order_by(*order_by(info, query.order))
    )
    if query.skip:
        statement = statement.offset(query.skip)
    if query.take is not None:
        statement = statement.limit(query.take)
    return statement, [column.key for column in columns]


def count_records(info: ModelInfo, conn: sa.Connection, query: Query) -> int:
    """How many rows match ``query``'s filters, ignoring ``skip`` and ``take``."""
    statement = (
        sa.select(sa.func.count())
        .select_from(info.table)
        .where(*_conditions(info, conn.dialect.name, query))
    )
    return int(conn.execute(statement).scalar_one())


def retrieve_record(
    info: ModelInfo,
    conn: sa.Connection,
    record_id: str,
    select: Sequence[str] | None,
    with_deleted: bool,
) -> Record:
    """The row with ``record_id`` or :class:`NotFoundError` naming model and id."""
    if not isinstance(record_id, str):
        raise ValidationError(
            f"{info.name} id must be a string, not {type(record_id).__name__}",
            record=info.name,
            field="id",
        )
    rows = list_records(
        info,
        conn,
        Query(filters={"id": record_id}, select=select, with_deleted=with_deleted, take=1),
    )
    if not rows:
        raise NotFoundError(info.name, record_id, f"no {info.singular} has this id")
    return rows[0]


def records_by_id(
    info: ModelInfo, conn: sa.Connection, ids: Sequence[str], *, column: str = "id"
) -> dict[Any, Record]:
    """Rows whose ``column`` is in ``ids`` (deleted or not), keyed by that column."""
    dialect = conn.dialect.name
    statement = sa.select(
        *(info.read_expression(each, dialect) for each in info.columns.values())
    ).where(in_list(info.columns[column], list(ids), dialect))
    records = info.to_json(list(info.columns), conn.execute(statement).fetchall(), dialect)
    return {record[column]: record for record in records}


def _conditions(info: ModelInfo, dialect: str, query: Query) -> list[sa.ColumnElement[bool]]:
    clauses = where_clauses(info, query.filters, dialect)
    if not query.with_deleted:
        clauses.append(info.table.c.deleted_at.is_(None))
    return clauses


def _check_page(info: ModelInfo, query: Query) -> None:
    for name, value in (("skip", query.skip), ("take", query.take)):
        if value is None and name == "take":
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationError(
                f"{info.name} {name} must be a non-negative integer, not {value!r}",
                record=info.name,
                field=name,
            )
