"""The brand module's main service: generated data verbs plus the brand system client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from loomwork.errors import ValidationError
from loomwork.modules import EventSink, ModuleService, UtcDateTime

from .client import BrandSystemClient, RetryPolicy
from .models import Brand, QuarantinedRecord, SyncState
from .options import BrandModuleOptions


class BrandModuleService(ModuleService, models=[Brand, QuarantinedRecord, SyncState]):
    """``create_brands``, ``list_brands``, ... and ``client``, the brand system's client."""

    def __init__(
        self, engine: sa.Engine, *, options: Any = None, event_sink: EventSink | None = None
    ) -> None:
        settings = options if isinstance(options, BrandModuleOptions) else BrandModuleOptions()
        super().__init__(engine, options=settings, event_sink=event_sink)
        self.client = build_client(settings)

    async def count_held_versions(self, versions: Mapping[str, str]) -> int:
        """How many of ``versions`` the store holds, deleted brands included.

        A version is held when the brand linked to that system id records that very
        system stamp. ``versions`` maps system ids to their ``updated_at``; a stamp
        counts only as that instant's fixed-width UTC text (microseconds, then ``Z`` or
        ``+00:00``), so an odd or impossible one is simply not held. The pairs
        travel as one JSON parameter and only the count comes back, so checking a page
        of a thousand unchanged records costs about a millisecond.
        """
        if not versions:
            return 0
        return await self._read_async(lambda conn: _count_held(conn, versions))

    async def find_brands_by(
        self,
        field: str,
        values: Sequence[str],
        *,
        live_only: bool,
        select: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The brands whose text ``field`` equals one of ``values``, in no given order.

        The records ``list_brands({field: values}, select=select, with_deleted=not
        live_only)`` returns, with the same keys and value formats (datetimes as
        canonical UTC text): ``live_only`` leaves out soft-deleted brands. Comparison is
        exact (case-sensitive), as ``list_brands`` compares. ``field`` is a text column
        (``id``, ``name``, ``external_id``, ``synced_name``); ``select`` names the fields
        to return (all when ``None``).

        The distinct values travel as one JSON array parameter that the statement joins
        to the table, one index probe per value, so a page of a thousand system records
        is looked up without a thousand parameters or SQLAlchemy's statement machinery.
        """
        lookup = _lookup_statement(field, select, live_only)
        if not values:
            return []
        dialect = self.engine.dialect
        if (dialect.name, dialect.driver) not in _FAST_DRIVERS:
            return await self.list_brands(  # type: ignore[no-any-return]
                {field: list(values)}, select=select, with_deleted=not live_only
            )
        return await self._read_async(lambda conn: _find_by(conn, lookup, values))

    async def aclose(self) -> None:
        """Release the client's connections."""
        await self.client.aclose()


_TABLE = Brand.__tablename__
# The hot read of a re-sync, as fixed text on the driver's cursor: SQLAlchemy's
# expanding IN would compile a thousand parameters per page. A stamp counts as held when
# it is the stored instant written as fixed-width UTC text, ending in "Z" or "+00:00":
# compared as text, so no stamp can make the statement fail. SQLite stores the "+00:00"
# form, and gets the stamps in it (see ``_stored_form``).
_SQLITE_COUNT_HELD = (
    f"SELECT COUNT(*) FROM json_each(?) AS v JOIN {_TABLE} AS b"
    " ON b.external_id = v.key AND b.system_updated_at = v.value"
)
_COUNT_HELD = (
    f"SELECT COUNT(*) FROM json_each_text(%s::json) AS v JOIN {_TABLE} AS b"
    " ON b.external_id = v.key AND substr(v.value, 27) IN ('Z', '+00:00')"
    " AND substr(v.value, 1, 26)"
    " = to_char(timezone('UTC', b.system_updated_at), 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
)


def _count_held(conn: sa.Connection, versions: Mapping[str, str]) -> int:
    param = orjson.dumps(versions)
    if conn.dialect.name == "sqlite":
        sql, param = _SQLITE_COUNT_HELD, _stored_form(param)
    else:
        sql = _COUNT_HELD
    rows = _fetch_raw(conn, sql, param.decode())
    return int(rows[0][0]) if rows else 0


def _stored_form(versions_json: bytes) -> bytes:
    """``{id: stamp}`` JSON with every stamp's final ``Z`` written ``+00:00``, as SQLite stores it.

    Two replacements over the whole text, instead of a pass over the pairs: only the end
    of a value is followed by ``",`` or ``"}`` (a key by ``":``, a quote inside a string
    is escaped), so no id changes. A value that is no stamp just stays unequal.
    """
    return versions_json.replace(b'Z",', b'+00:00",').replace(b'Z"}', b'+00:00"}')


def _fetch_raw(conn: sa.Connection, sql: str, json_param: str) -> list[Any]:
    """The rows of ``sql`` with its one JSON parameter, on the driver's own cursor."""
    cursor = conn.connection.cursor()
    try:
        if conn.dialect.name == "sqlite":
            cursor.execute(sql, (json_param,))
        else:
            # Never a server-side prepared statement: its generic plan, made while the
            # table was small (a first sync), would scan the whole table ever after.
            psycopg_cursor: Any = cursor  # ``prepare`` is psycopg's own keyword
            psycopg_cursor.execute(sql, (json_param,), prepare=False)
        return list(cursor.fetchall())
    finally:
        cursor.close()


# ``find_brands_by``: the selected columns of the brands joined to the values of one JSON
# array, per dialect. Datetimes come back as the text the module layer returns: SQLite
# stores it as such, PostgreSQL formats it like ``list_brands`` does (to_char on the
# server, twice as fast as converting the driver's datetimes in Python).
_BRANDS: sa.Table = Brand.__table__  # type: ignore[assignment]
_PG_UTC_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
_SQLITE_VALUES = "json_each(?) AS v"
_PG_VALUES = "json_array_elements_text(%s::json) AS v(value)"
# Where the raw statements run; any other driver takes ``list_brands``.
_FAST_DRIVERS = frozenset({("sqlite", "pysqlite"), ("postgresql", "psycopg")})


@dataclass(frozen=True, slots=True)
class _Lookup:
    """A lookup of one field, selection and liveness; its statement per dialect."""

    matched: sa.Column[Any]
    columns: tuple[sa.Column[Any], ...]
    live_only: bool
    keys: tuple[str, ...]
    statements: dict[str, str]

    def statement(self, dialect: sa.Dialect) -> str:
        """The SQL text on ``dialect`` (built once per dialect)."""
        sql = self.statements.get(dialect.name)
        if sql is None:
            sql = self.statements[dialect.name] = _lookup_sql(dialect, self)
        return sql


_lookups: dict[tuple[str, tuple[str, ...] | None, bool], _Lookup] = {}


def _lookup_statement(field: str, select: Sequence[str] | None, live_only: bool) -> _Lookup:
    """The statement of a lookup, built once; :class:`ValidationError` for a bad field."""
    if select is not None and (isinstance(select, str) or not select):
        raise ValidationError(
            "Brand select must be a non-empty list of field names", record="Brand", field="select"
        )
    chosen = None if select is None else tuple(select)
    cache_key = (field, chosen, live_only)
    lookup = _lookups.get(cache_key)
    if lookup is None:
        lookup = _lookups[cache_key] = _build_lookup(field, chosen, live_only)
    return lookup


def _build_lookup(field: Any, select: tuple[str, ...] | None, live_only: bool) -> _Lookup:
    matched = _column(field)
    if not isinstance(matched.type, sa.String):
        raise ValidationError(
            f"Brand.{field}: find_brands_by looks up text fields only", record="Brand", field=field
        )
    columns = list(_BRANDS.columns) if select is None else [_column(key) for key in select]
    for column in columns:
        if not isinstance(column.type, sa.String | UtcDateTime):
            # Other types would need the module layer's JSON converters.
            raise ValidationError(
                f"Brand.{column.key}: find_brands_by returns text and datetime fields only",
                record="Brand",
                field=column.key,
            )
    keys = tuple(column.key for column in columns)
    return _Lookup(matched, tuple(columns), live_only, keys, statements={})


def _column(field: Any) -> sa.Column[Any]:
    column = _BRANDS.columns.get(field) if isinstance(field, str) else None
    if column is None:
        raise ValidationError(
            f"Brand has no field {field!r}; known fields: {', '.join(_BRANDS.columns.keys())}",
            record="Brand",
            field=str(field),
        )
    return column


def _lookup_sql(dialect: sa.Dialect, lookup: _Lookup) -> str:
    quote = dialect.identifier_preparer.quote
    values = _SQLITE_VALUES if dialect.name == "sqlite" else _PG_VALUES

    def read(column: sa.Column[Any]) -> str:
        name = f"b.{quote(column.name)}"
        if dialect.name == "postgresql" and isinstance(column.type, UtcDateTime):
            return f"to_char(timezone('UTC', {name}), '{_PG_UTC_ISO}')"
        return name

    # A join, not ``IN (SELECT ...)``: the values are distinct, so it finds each row once
    # and skips the IN's temporary index (SQLite) or hash aggregate (PostgreSQL).
    sql = (
        f"SELECT {', '.join(read(column) for column in lookup.columns)} FROM {values}"
        f" JOIN {quote(_BRANDS.name)} AS b ON b.{quote(lookup.matched.name)} = v.value"
    )
    if lookup.live_only:
        sql += f" AND b.{quote(_BRANDS.c.deleted_at.name)} IS NULL"
    return sql


def _find_by(conn: sa.Connection, lookup: _Lookup, values: Sequence[str]) -> list[dict[str, Any]]:
    param = orjson.dumps(list(dict.fromkeys(values))).decode()
    rows = _fetch_raw(conn, lookup.statement(conn.dialect), param)
    keys = lookup.keys
    return [dict(zip(keys, row, strict=True)) for row in rows]


def build_client(options: BrandModuleOptions) -> BrandSystemClient:
    """A client configured by the module options."""
    return BrandSystemClient(
        options.base_url,
        options.api_key.get_secret_value(),
        page_size=options.page_size,
        batch_pages=options.batch_pages,
        timeout=options.timeout,
        retry=RetryPolicy(
            max_attempts=options.max_attempts,
            backoff_base=options.backoff_base,
            backoff_cap=options.backoff_cap,
            max_retry_after=options.max_retry_after,
        ),
    )
