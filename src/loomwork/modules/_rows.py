"""Turns caller dicts into rows for bulk INSERTs: JSON-ready records plus driver parameters.

The bulk path compiles each statement once with SQLAlchemy and hands pre-processed
parameter tuples to the driver's ``executemany`` (through ``Connection.exec_driver_sql``,
so engine events still fire). Values are processed once per distinct object where that
is cheap: the shared timestamp of a batch is converted once, not once per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from loomwork.errors import ValidationError
from loomwork.modules._ids import new_ids
from loomwork.modules._table import ModelInfo

Record = dict[str, Any]
CHUNK_ROWS = 10_000

_compiled: dict[tuple[sa.Table, str, str], tuple[str, Callable[[Record], Any]]] = {}


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows ready to insert: what to return to the caller and what to send to the driver."""

    records: list[Record]
    params: list[Record]


def build_rows(info: ModelInfo, dialect: Dialect, items: Sequence[Any], now: datetime) -> Rows:
    """Complete each item with an id, timestamps and column defaults."""
    allowed = info.columns.keys()
    processors = _bind_processors(info, dialect)
    record_base, param_base = _bases(info, processors, now)
    callables = {
        key: default
        for key, default in info.python_defaults.items()
        if isinstance(default, sa.ColumnDefault) and key not in ("id", "created_at", "updated_at")
    }
    special = processors.keys() | info.json_converters.keys() | callables.keys()
    fresh = iter(new_ids(info.id_prefix, sum(1 for item in items if "id" not in item)))
    records: list[Record] = []
    params: list[Record] = []
    for item in items:
        if not isinstance(item, Mapping) or not item.keys() <= allowed:
            _reject(info, item)
        record = record_base.copy()
        record.update(item)
        param = param_base.copy()
        param.update(item)
        if "id" not in item:
            record["id"] = param["id"] = next(fresh)
        if not special.isdisjoint(item.keys()) or callables:
            _fill_special(info, processors, callables, item, record, param)
        records.append(record)
        params.append(param)
    return Rows(records, params)


def execute_many(
    conn: sa.Connection, info: ModelInfo, key: str, statement: sa.Insert, params: list[Record]
) -> None:
    """Run ``statement`` (compiled once per table, dialect and ``key``) for every row."""
    cache_key = (info.table, f"{conn.dialect.name}+{conn.dialect.driver}", key)
    compiled = _compiled.get(cache_key)
    if compiled is None:
        compiled = _compiled[cache_key] = _compile(conn.dialect, info, statement)
    sql, shape = compiled
    for chunk in _chunks(params):
        conn.exec_driver_sql(sql, [shape(param) for param in chunk])


def _compile(
    dialect: Dialect, info: ModelInfo, statement: sa.Insert
) -> tuple[str, Callable[[Record], Any]]:
    compiled = statement.compile(dialect=dialect, column_keys=list(info.columns))
    order = compiled.positiontup
    if order is not None:
        return str(compiled), itemgetter(*order)
    return str(compiled), _same


def _same(param: Record) -> Record:
    return param


def _chunks(params: list[Record]) -> Iterator[list[Record]]:
    for start in range(0, len(params), CHUNK_ROWS):
        yield params[start : start + CHUNK_ROWS]


def _bind_processors(info: ModelInfo, dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    return {
        key: processor
        for key, column in info.columns.items()
        if (processor := column.type.bind_processor(dialect)) is not None
    }


def _bases(
    info: ModelInfo, processors: Mapping[str, Callable[[Any], Any]], now: datetime
) -> tuple[Record, Record]:
    record: Record = {}
    param: Record = {}
    for key, default in info.python_defaults.items():
        value = now if key in ("created_at", "updated_at") else default
        if isinstance(value, sa.ColumnDefault):
            value = None
        convert = info.json_converters.get(key)
        process = processors.get(key)
        record[key] = convert(value) if convert and value is not None else value
        param[key] = process(value) if process else value
    return record, param


def _fill_special(
    info: ModelInfo,
    processors: Mapping[str, Callable[[Any], Any]],
    callables: Mapping[str, sa.ColumnDefault],
    item: Mapping[str, Any],
    *rows: Record,
) -> None:
    record, param = rows
    values = {key: default.arg(None) for key, default in callables.items() if key not in item}
    values.update(
        (key, item[key]) for key in item if key in processors or key in info.json_converters
    )
    for key, value in values.items():
        convert = info.json_converters.get(key)
        process = processors.get(key)
        record[key] = convert(value) if convert and value is not None else value
        param[key] = process(value) if process else value


def _reject(info: ModelInfo, item: Any) -> None:
    if not isinstance(item, Mapping):
        raise ValidationError(
            f"{info.name} data must be a mapping of field to value, not {type(item).__name__}",
            record=info.name,
        )
    info.check_fields(item)
