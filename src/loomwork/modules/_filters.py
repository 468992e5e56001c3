"""Turns Medusa-style filter, order and select arguments into SQLAlchemy clauses.

Field names are looked up among the model's columns and operators in a fixed table, so
nothing from the caller is ever written into SQL text; anything unknown is a
:class:`ValidationError` naming the model and the field.

Filter language::

    {"name": "Acme"}                      equality; None means IS NULL
    {"id": ["brand_1", "brand_2"]}        a list means IN (an empty list matches nothing)
    {"name": {"$ilike": "ac%"}}           operators: $eq $ne $in $nin $like $ilike
                                          $gt $gte $lt $lte
    {"$or": [{...}, {...}], "$and": [...]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from loomwork.errors import ValidationError
from loomwork.modules._table import ModelInfo

Filters = Mapping[str, Any]
Clause = sa.ColumnElement[bool]

# Beyond this many values an IN list travels as one parameter (a JSON text on SQLite, an
# array on PostgreSQL), which keeps under the drivers' parameter limits and compiles fast.
LARGE_IN_LIST = 500

_COMPARISONS: dict[str, Callable[[sa.ColumnElement[Any], Any], Clause]] = {
    "$gt": lambda column, value: column > value,
    "$gte": lambda column, value: column >= value,
    "$lt": lambda column, value: column < value,
    "$lte": lambda column, value: column <= value,
}
_PATTERNS = frozenset({"$like", "$ilike"})
OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", *_COMPARISONS, *_PATTERNS})


def where_clauses(info: ModelInfo, filters: Filters | None, dialect: str) -> list[Clause]:
    """The conjunction of ``filters`` as a list of clauses (empty means everything)."""
    if filters is None:
        return []
    if not isinstance(filters, Mapping):
        raise ValidationError(
            f"{info.name} filters must be a mapping of field to condition, "
            f"not {type(filters).__name__}",
            record=info.name,
        )
    return [_condition(info, key, value, dialect) for key, value in filters.items()]


def _condition(info: ModelInfo, key: Any, value: Any, dialect: str) -> Clause:
    if key in ("$and", "$or"):
        if not isinstance(value, list | tuple):
            raise ValidationError(
                f"{info.name} filter {key} takes a list of filters", record=info.name, field=key
            )
        parts = [sa.and_(sa.true(), *where_clauses(info, part, dialect)) for part in value]
        if key == "$and":
            return sa.and_(sa.true(), *parts)
        return sa.or_(sa.false(), *parts)
    column = info.column(key)
    if isinstance(value, Mapping):
        return sa.and_(
            sa.true(),
            *(
                _operator(info, column, op, _parsed(info, key, op, arg), dialect)
                for op, arg in value.items()
            ),
        )
    return _equals(column, _parsed(info, key, "$eq", value), dialect)


def _parsed(info: ModelInfo, key: str, op: Any, arg: Any) -> Any:
    if op in _PATTERNS:
        return arg
    if isinstance(arg, list | tuple | set | frozenset):
        return [info.parse(key, each) for each in arg]
    return info.parse(key, arg)


def _equals(column: sa.Column[Any], value: Any, dialect: str) -> Clause:
    if value is None:
        return column.is_(None)
    if isinstance(value, list | tuple | set | frozenset):
        return in_list(column, list(value), dialect)
    clause: Clause = column == value
    return clause


def _operator(info: ModelInfo, column: sa.Column[Any], op: Any, arg: Any, dialect: str) -> Clause:
    if op == "$eq":
        return _equals(column, arg, dialect)
    if op == "$ne":
        return column.is_not(None) if arg is None else column != arg
    if op in ("$in", "$nin"):
        if not isinstance(arg, list | tuple | set | frozenset):
            raise ValidationError(
                f"{info.name}.{column.key} {op} takes a list", record=info.name, field=column.key
            )
        clause = in_list(column, list(arg), dialect)
        return sa.not_(clause) if op == "$nin" else clause
    if op in _PATTERNS:
        return _pattern(info, column, op, arg, dialect)
    compare = _COMPARISONS.get(op) if isinstance(op, str) else None
    if compare is None:
        raise ValidationError(
            f"{info.name}.{column.key}: unknown operator {op!r}; "
            f"use one of {', '.join(sorted(OPERATORS))}",
            record=info.name,
            field=column.key,
        )
    if arg is None:
        raise ValidationError(
            f"{info.name}.{column.key} {op} needs a value, not None",
            record=info.name,
            field=column.key,
        )
    return compare(column, arg)


def _pattern(info: ModelInfo, column: sa.Column[Any], op: str, arg: Any, dialect: str) -> Clause:
    if not isinstance(arg, str):
        raise ValidationError(
            f"{info.name}.{column.key} {op} takes a text pattern",
            record=info.name,
            field=column.key,
        )
    if op == "$ilike":
        return column.ilike(arg, escape="\\")
    if dialect == "sqlite":
        # SQLite's LIKE ignores case; GLOB does not, which matches PostgreSQL's LIKE.
        return column.op("GLOB", is_comparison=True)(like_to_glob(arg))
    return column.like(arg, escape="\\")


def like_to_glob(pattern: str) -> str:
    """A GLOB pattern equal to a LIKE pattern whose escape character is a backslash."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(_glob_literal(next(chars, "\\")))
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(_glob_literal(char))
    return "".join(out)


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char


def in_list(column: sa.ColumnElement[Any], values: list[Any], dialect: str) -> Clause:
    """``column IN values``, sending long lists of text or integers as one parameter."""
    how = in_list_kind(values, dialect)
    return in_clause(column, how, in_list_literal(values, how))


# How in_list sends its values: as an expanding IN (one parameter per value), as a JSON
# text (SQLite) or as a text or integer array (PostgreSQL).
InKind = Literal["in", "json", "text[]", "bigint[]"]


def in_list_kind(values: list[Any], dialect: str) -> InKind:
    """How :func:`in_list` sends ``values`` to ``dialect``."""
    if len(values) < LARGE_IN_LIST or not plain_scalars(values):
        return "in"
    if dialect == "postgresql":
        return "text[]" if isinstance(values[0], str) else "bigint[]"
    if dialect == "sqlite":
        return "json"
    return "in"


def in_list_param(values: list[Any], how: InKind) -> Any:
    """The parameter value that carries ``values`` when sent as ``how``."""
    return json.dumps(values) if how == "json" else values


def in_list_bind(how: InKind, name: str, column_type: sa.types.TypeEngine[Any]) -> Any:
    """A named parameter for :func:`in_clause` (``column_type`` types an expanding IN)."""
    if how == "in":
        return sa.bindparam(name, expanding=True, type_=column_type)
    return sa.bindparam(name, type_=_IN_TYPES[how]())


def in_list_literal(values: list[Any], how: InKind) -> Any:
    """``values`` as :func:`in_clause` takes them inline."""
    if how == "in":
        return values
    return sa.literal(in_list_param(values, how), _IN_TYPES[how]())


def in_clause(column: sa.ColumnElement[Any], how: InKind, values: Any) -> Clause:
    """``column IN values`` for values from :func:`in_list_literal` or :func:`in_list_bind`."""
    if how == "json":
        each = sa.func.json_each(values).table_valued("value")
        return column.in_(sa.select(each.c.value))
    if how != "in":
        return column == sa.any_(values)
    return column.in_(values)


_IN_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "json": sa.String,
    "text[]": lambda: postgresql.ARRAY(sa.String()),
    "bigint[]": lambda: postgresql.ARRAY(sa.BigInteger()),
}


def plain_scalars(values: Sequence[Any]) -> bool:
    """Whether ``values`` (not empty) are all ``str`` or all ``int`` (not subclasses)."""
    kind = type(values[0])
    if kind is not str and kind is not int:
        return False
    for value in values:  # noqa: SIM110 - twice as fast as all() over a generator
        if type(value) is not kind:
            return False
    return True


def order_by(info: ModelInfo, order: Mapping[str, str] | None) -> list[sa.ColumnElement[Any]]:
    """``ORDER BY`` terms from ``{"field": "ASC" | "DESC"}``; ``id`` breaks ties."""
    terms: list[sa.ColumnElement[Any]] = []
    fields = set()
    for field, direction in (order or {}).items():
        column = info.column(field)
        if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
            raise ValidationError(
                f"{info.name} order for {field!r} must be 'ASC' or 'DESC', not {direction!r}",
                record=info.name,
                field=field,
            )
        # NULLs sort as the largest value on every database (PostgreSQL's default).
        if direction.lower() == "desc":
            terms.append(column.desc().nulls_first() if column.nullable else column.desc())
        else:
            terms.append(column.asc().nulls_last() if column.nullable else column.asc())
        fields.add(field)
    if "id" not in fields:
        terms.append(info.table.c.id.asc())
    return terms


def selected_columns(info: ModelInfo, select: Sequence[str] | None) -> list[sa.Column[Any]]:
    """The columns named by ``select`` (all of them when ``None``)."""
    if select is None:
        return list(info.columns.values())
    if isinstance(select, str):
        raise ValidationError(
            f"{info.name} select must be a list of field names, not a string",
            record=info.name,
            field=select,
        )
    if not select:
        raise ValidationError(
            f"{info.name} select needs at least one field", record=info.name, field="select"
        )
    return [info.column(field) for field in select]
