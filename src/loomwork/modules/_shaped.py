"""Shared statements of ``list_<plural>``: one per query shape, values as parameters.

A shape is the model, the dialect, the selected fields, which fields are filtered and
how, ``with_deleted``, the order, and whether there is a page. Its statement is built
and compiled once, so the common calls skip building the statement and SQLAlchemy's
cache key. Shapes that cannot be parametrized exactly (operators, ``$or``/``$and``,
fields that parse their values, values whose type is not the column's) have no shared
statement: the caller builds those per call.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.sql import operators

from loomwork.modules._filters import (
    LARGE_IN_LIST,
    InKind,
    in_clause,
    in_list_bind,
    in_list_kind,
    in_list_param,
    order_by,
    plain_scalars,
    selected_columns,
)
from loomwork.modules._table import ModelInfo

if TYPE_CHECKING:
    from loomwork.modules._reads import Query

Record = dict[str, Any]
# Filter values the shared statements take as parameters; anything else builds per call
# (``True``/``False`` too: SQLAlchemy writes them into the SQL as constants).
_SCALARS = frozenset({str, int, float, datetime})
_SEQUENCES = frozenset({list, tuple, set, frozenset})
PREPARED_LIMIT = 512


def shared_statement(
    info: ModelInfo, dialect: str, query: Query
) -> tuple[sa.Select[Any], list[str], Record] | None:
    """The shared statement of ``query``'s shape, its result keys and its parameters.

    ``None`` when the shape has no shared statement.
    """
    shaped = _shape(info, query, dialect)
    if shaped is None:
        return None
    key, params = shaped
    prepared = _prepared.get(key)
    if prepared is None:
        prepared = _prepare(info, dialect, query, key)
        if len(_prepared) >= PREPARED_LIMIT:
            _prepared.clear()
        _prepared[key] = prepared
    statement, keys = prepared
    return statement, keys, params


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
