"""Read verbs: list, count and retrieve, on a connection already in a transaction.

``list_records`` keeps one statement per query shape (model, dialect, selected fields,
which fields are filtered and how, ``with_deleted``, order, whether there is a page) with
named parameters for the values, so the common calls skip building the statement and
SQLAlchemy's cache key. Shapes it does not know how to parametrize exactly (operators,
``$or``/``$and``, fields that parse their values, values whose type is not the column's)
build the statement per call as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql import operators

from loomwork.errors import NotFoundError, ValidationError
from loomwork.modules._filters import (
    LARGE_IN_LIST,
    Filters,
    InKind,
    in_clause,
    in_list,
    in_list_bind,
    in_list_kind,
    in_list_param,
    order_by,
    plain_scalars,
    selected_columns,
    where_clauses,
)
from loomwork.modules._table import ModelInfo

Record = dict[str, Any]
# Filter values the shared statements take as parameters; anything else builds per call
# (``True``/``False`` too: SQLAlchemy writes them into the SQL as constants).
_SCALARS = frozenset({str, int, float, datetime})
_SEQUENCES = frozenset({list, tuple, set, frozenset})
PREPARED_LIMIT = 512


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
    shaped = _shape(info, query, dialect)
    if shaped is None:
        statement, keys = _build_statement(info, dialect, query)
        return info.to_json(keys, conn.execute(statement).fetchall(), dialect)
    key, params = shaped
    prepared = _prepared.get(key)
    if prepared is None:
        prepared = _prepare(info, dialect, query, key)
        if len(_prepared) >= PREPARED_LIMIT:
            _prepared.clear()
        _prepared[key] = prepared
    statement, keys = prepared
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


# A query shape: the model's table, the dialect, the selected fields, the filters as
# (field, how) pairs, with_deleted, the order, and whether skip and take are given.
ShapeKey = tuple[Any, ...]
_Prepared = tuple[sa.Select[Any], list[str]]
_prepared: dict[ShapeKey, _Prepared] = {}
_SKIP, _TAKE = "lw_skip", "lw_take"


class _Unshaped(Exception):
    """The query has no shared statement: it is built per call."""


def _shape(info: ModelInfo, query: Query, dialect: str) -> tuple[ShapeKey, Record] | None:
    """The shape of ``query`` and its parameters, or ``None`` to build it per call.

    A shape is only given where the shared statement is exactly the one
    :func:`_build_statement` would build: the same clauses, parameter types and values.
    """
    params: Record = {}
    try:
        select = _select_key(query.select)
        order = _order_key(query.order)
        filters = _filters_key(info, query.filters, dialect, params)
    except _Unshaped:
        return None
    if query.skip:
        params[_SKIP] = query.skip
    if query.take is not None:
        params[_TAKE] = query.take
    key = (
        info.table,
        dialect,
        select,
        filters,
        bool(query.with_deleted),
        order,
        bool(query.skip),
        query.take is not None,
    )
    return key, params


def _select_key(select: Any) -> tuple[str, ...] | None:
    if select is None:
        return None
    if type(select) is not list and type(select) is not tuple:
        raise _Unshaped
    for field in select:
        if type(field) is not str:
            raise _Unshaped
    return tuple(select)


def _order_key(order: Any) -> tuple[tuple[str, str], ...]:
    if not order:
        return ()
    if type(order) is not dict:
        raise _Unshaped
    for field, direction in order.items():
        if type(field) is not str or type(direction) is not str:
            raise _Unshaped
    return tuple(order.items())


def _filters_key(
    info: ModelInfo, filters: Any, dialect: str, params: Record
) -> tuple[tuple[str, str], ...]:
    """``(field, how)`` per filter; the values go into ``params`` as ``lw_<index>``."""
    if filters is None:
        return ()
    if type(filters) is not dict:
        raise _Unshaped
    shape: list[tuple[str, str]] = []
    for field, value in filters.items():
        column = info.columns.get(field) if type(field) is str else None
        if column is None or field in info.parsers:
            # Unknown fields raise, and parsed values may change type: built per call.
            raise _Unshaped
        how, param = _filter(column, value, dialect)
        if how != "null":
            params[f"lw_{len(shape)}"] = param
        shape.append((field, how))
    return tuple(shape)


def _filter(column: sa.Column[Any], value: Any, dialect: str) -> tuple[str, Any]:
    """How the shared statement takes ``value`` for ``column``, and the parameter."""
    if value is None:
        return "null", None
    kind = type(value)
    if kind in _SCALARS:
        if column.type.coerce_compared_value(operators.eq, value) is not column.type:
            raise _Unshaped
        return "=", value
    if kind not in _SEQUENCES:
        raise _Unshaped
    values = list(value)
    how = in_list_kind(values, dialect)
    if how == "in" and values:
        # An expanding IN, typed by its first value; long mixed lists are built per call.
        if len(values) >= LARGE_IN_LIST or not plain_scalars(values):
            raise _Unshaped
        if column.type.coerce_compared_value(operators.in_op, values[0]) is not column.type:
            raise _Unshaped
    return how, in_list_param(values, how)


def _prepare(info: ModelInfo, dialect: str, query: Query, key: ShapeKey) -> _Prepared:
    """The shared statement of ``key`` (``query`` is one query of that shape)."""
    columns = selected_columns(info, query.select)
    filters: tuple[tuple[str, str], ...] = key[3]
    clauses = [
        _shaped_clause(info.columns[field], how, f"lw_{index}")
        for index, (field, how) in enumerate(filters)
    ]
    if not query.with_deleted:
        clauses.append(info.table.c.deleted_at.is_(None))
    statement = (
        sa.select(*(info.read_expression(column, dialect) for column in columns))
        .where(*clauses)
        .order_by(*order_by(info, query.order))
    )
    if query.skip:
        statement = statement.offset(sa.bindparam(_SKIP, type_=sa.Integer()))
    if query.take is not None:
        statement = statement.limit(sa.bindparam(_TAKE, type_=sa.Integer()))
    return statement, [column.key for column in columns]


def _shaped_clause(column: sa.Column[Any], how: str, name: str) -> sa.ColumnElement[bool]:
    if how == "null":
        return column.is_(None)
    if how == "=":
        clause: sa.ColumnElement[bool] = column == sa.bindparam(name, type_=column.type)
        return clause
    kind = cast("InKind", how)
    return in_clause(column, kind, in_list_bind(kind, name, column.type))


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
