"""Turns caller dicts into rows for bulk INSERTs.

The bulk path compiles each statement once with SQLAlchemy and hands parameter tuples to
the driver (through ``Connection.exec_driver_sql``, so engine events still fire): on
SQLite as INSERTs of 250 rows each, elsewhere to ``executemany``. A row's JSON-ready
record doubles as its parameters: datetimes are the canonical ISO-8601 UTC text, which is
what SQLite stores and what PostgreSQL reads for a ``timestamptz``. Only values whose type
needs driver-side processing get a separate parameter dict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from loomwork.errors import ValidationError
from loomwork.modules._gc import paused_gc
from loomwork.modules._ids import new_ids
from loomwork.modules._model import UtcDateTime, all_utc_iso, utc_iso, utc_iso_fast
from loomwork.modules._table import ModelInfo

Record = dict[str, Any]
Convert = Callable[[Any], Any]
CHUNK_ROWS = 10_000
MULTI_ROW_MAX = 250
_MANAGED = ("id", "created_at", "updated_at")

_compiled: dict[tuple[sa.Table, str, str], tuple[str, Callable[[Record], Any]]] = {}


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows ready to insert: the records to return, and parameters where they differ."""

    records: list[Record]
    overrides: dict[int, Record] = field(default_factory=dict)

    def params(self) -> list[Record]:
        """The parameters of every row, in order."""
        if not self.overrides:
            return self.records
        return [self.overrides.get(i, record) for i, record in enumerate(self.records)]


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to complete items of one model on one dialect."""

    allowed: frozenset[str]
    base: Record
    converters: Mapping[str, Convert]
    processors: Mapping[str, Convert]
    callables: Mapping[str, Callable[[], Any]]
    special: frozenset[str]
    # Special columns whose value only becomes canonical UTC text (UtcDateTime columns):
    # the text is both the returned value and the driver's parameter.
    datetimes: frozenset[str]


def build_rows(info: ModelInfo, dialect: Dialect, items: Sequence[Any], now: datetime) -> Rows:
    """Complete each item with an id, timestamps and column defaults."""
    with paused_gc(len(items)):
        return _build(info, _plan(info, dialect), items, now)


def _build(info: ModelInfo, plan: _Plan, items: Sequence[Any], now: datetime) -> Rows:
    plain = _build_plain(info, plan, items, now)
    return plain if plain is not None else _build_each(info, plan, items, now)


def _build_each(info: ModelInfo, plan: _Plan, items: Sequence[Any], now: datetime) -> Rows:
    stamp = utc_iso(now)
    base = {**plan.base, "created_at": stamp, "updated_at": stamp}
    wanted = sum(1 for item in items if type(item) is not dict or item.get("id") is None)
    fresh = iter(new_ids(info.id_prefix, wanted))
    rows = Rows([])
    records, overrides = rows.records, rows.overrides
    allowed, special = plan.allowed, plan.special
    always = bool(plan.callables)
    for index, item in enumerate(items):
        if not (type(item) is dict or isinstance(item, Mapping)) or not item.keys() <= allowed:
            _reject(info, item)
        record = base.copy()
        record.update(item)
        if record["id"] is None:
            record["id"] = next(fresh)
        if always or not special.isdisjoint(item):
            param = _fill_special(info, plan, item, record)
            if param is not None:
                overrides[index] = param
        records.append(record)
    return rows


def _build_plain(info: ModelInfo, plan: _Plan, items: Sequence[Any], now: datetime) -> Rows | None:
    """The usual bulk create in a few passes, or ``None`` to take the item-by-item way.

    It applies when every item is a dict of known fields whose only special values are
    datetimes already in canonical UTC text (or ``None``): then every record is the
    defaults overlaid with the item, and no value needs converting. Anything else, valid
    or not, goes item by item, which converts values and names the first bad one.
    """
    allowed = plan.allowed
    for item in items:
        if type(item) is not dict or not item.keys() <= allowed:
            return None
    present = plan.special & set().union(*items)
    if plan.callables or not present <= plan.datetimes:
        return None
    for key in present:
        texts = [value for item in items if (value := item.get(key)) is not None]
        if texts and not all_utc_iso(texts):
            return None
    stamp = utc_iso(now)
    base = {**plan.base, "created_at": stamp, "updated_at": stamp}
    records = [base | item for item in items]
    unnamed = [record for record in records if record["id"] is None]
    for record, new_id in zip(unnamed, new_ids(info.id_prefix, len(unnamed)), strict=True):
        record["id"] = new_id
    return Rows(records)


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
        with paused_gc(len(chunk)):
            values = [shape(param) for param in chunk]
        conn.exec_driver_sql(sql, values)


def insert_rows(conn: sa.Connection, info: ModelInfo, params: list[Record]) -> None:
    """INSERT every row: on SQLite as multi-row ``VALUES`` statements, else executemany.

    SQLite runs one statement per row under ``executemany``; a statement of a few hundred
    rows makes the insert about a quarter cheaper. The rows that do not fill a last
    statement go through ``executemany``.
    """
    per_statement = _rows_per_statement(conn.dialect, info)
    multi_row = _multi_row_insert(conn.dialect, info, per_statement)
    whole = len(params) - len(params) % per_statement if multi_row is not None else 0
    if multi_row is not None:
        sql, shape = multi_row
        for start in range(0, whole, per_statement):
            with paused_gc(per_statement):
                values = tuple(
                    chain.from_iterable(map(shape, params[start : start + per_statement]))
                )
            conn.exec_driver_sql(sql, values)
    if whole < len(params):
        execute_many(conn, info, "insert", info.table.insert(), params[whole:])


def _rows_per_statement(dialect: Dialect, info: ModelInfo) -> int:
    if dialect.name != "sqlite":
        return 1
    # SQLite allows 32766 parameters a statement since 3.32, 999 before.
    version = dialect.server_version_info or (0,)
    limit = 32_766 if version >= (3, 32) else 999
    return min(MULTI_ROW_MAX, limit // len(info.columns))


_multi_rows: dict[tuple[sa.Table, str, int], tuple[str, Callable[[Record], Any]] | None] = {}
# A compiled single-row INSERT whose VALUES are positional markers only.
_ONE_ROW = re.compile(r"(INSERT INTO .+ VALUES )(\((?:\?, )*\?\))", re.DOTALL)


def _multi_row_insert(
    dialect: Dialect, info: ModelInfo, rows: int
) -> tuple[str, Callable[[Record], Any]] | None:
    """The INSERT of ``rows`` rows and each row's parameter order; ``None`` if unusual.

    The single-row statement's VALUES group is repeated: SQLAlchemy would take tens of
    milliseconds to compile a statement of a few thousand parameters.
    """
    if rows < 2:
        return None
    cache_key = (info.table, f"{dialect.name}+{dialect.driver}", rows)
    if cache_key not in _multi_rows:
        sql, shape = _compile(dialect, info, info.table.insert())
        matched = _ONE_ROW.fullmatch(sql)
        # Any other shape (named parameters, say) keeps executemany.
        if matched is None or shape is _same or matched[2].count("?") != len(info.columns):
            _multi_rows[cache_key] = None
        else:
            _multi_rows[cache_key] = (matched[1] + ", ".join([matched[2]] * rows), shape)
    return _multi_rows[cache_key]


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


_plans: dict[tuple[type[Any], str], _Plan] = {}


def _plan(info: ModelInfo, dialect: Dialect) -> _Plan:
    key = (info.model, f"{dialect.name}+{dialect.driver}")
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _make_plan(info, dialect)
    return plan


def _make_plan(info: ModelInfo, dialect: Dialect) -> _Plan:
    processors = {
        key: processor
        for key, column in info.columns.items()
        if not isinstance(column.type, UtcDateTime)
        and (processor := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    }
    callables: dict[str, Callable[[], Any]] = {}
    base: Record = {}
    for key, default in info.python_defaults.items():
        base[key] = None
        if key in _MANAGED or default is None:
            continue
        if isinstance(default, sa.ColumnDefault):
            callables[key] = partial(default.arg, None)
        elif key in processors or key in info.json_converters:
            # A scalar default that needs processing is filled per row, like a callable.
            callables[key] = partial(_constant, default)
        else:
            base[key] = default
    special = frozenset({*processors, *info.json_converters, *callables})
    datetimes = frozenset(
        key
        for key in special
        if info.json_converters.get(key) is utc_iso
        and key not in processors
        and key not in info.parsers
    )
    return _Plan(
        allowed=frozenset(info.columns),
        base=base,
        converters=info.json_converters,
        processors=processors,
        callables=callables,
        special=special,
        datetimes=datetimes,
    )


def _fill_special(
    info: ModelInfo, plan: _Plan, item: Mapping[str, Any], record: Record
) -> Record | None:
    """Convert the values of special columns in ``record``; the driver's values if they differ.

    Callable defaults come first, then the item's values in the item's order (so the first
    invalid value raises). Datetimes take the short way: canonical UTC text, or ``None``.
    """
    driver_values: Record = {}
    for key, make in plan.callables.items():
        if key not in item:
            driver = _fill_value(info, plan, key, make(), record)
            if driver is not _SAME:
                driver_values[key] = driver
    datetimes = plan.datetimes
    special = plan.special
    for key, raw in item.items():
        if key in datetimes:
            if raw is not None:
                record[key] = utc_iso_fast(raw)
        elif key in special:
            driver = _fill_value(info, plan, key, raw, record)
            if driver is not _SAME:
                driver_values[key] = driver
    return {**record, **driver_values} if driver_values else None


_SAME: Any = object()


def _fill_value(info: ModelInfo, plan: _Plan, key: str, raw: Any, record: Record) -> Any:
    """Set ``record[key]`` from ``raw``; the driver's value, or ``_SAME`` to send the record's."""
    value = info.parse(key, raw)
    convert = plan.converters.get(key)
    record[key] = convert(value) if convert is not None and value is not None else value
    process = plan.processors.get(key)
    if process is not None:
        return process(value)
    # Datetime text is valid driver input; other converted values are not.
    if convert is not None and convert is not utc_iso:
        return value
    return _SAME


def _constant(value: Any) -> Any:
    return value


def _reject(info: ModelInfo, item: Any) -> None:
    if not isinstance(item, Mapping):
        raise ValidationError(
            f"{info.name} data must be a mapping of field to value, not {type(item).__name__}",
            record=info.name,
        )
    info.check_fields(item)
