"""What the generated service needs to know about one model, computed once per model."""

from __future__ import annotations

import enum
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from loomwork.errors import DefinitionError, ValidationError
from loomwork.modules._gc import paused_gc
from loomwork.modules._model import Model, UtcDateTime, utc_iso
from loomwork.modules._naming import pluralize, snake_case

JsonConverter = Callable[[Any], Any]
_DATETIME_AS_TEXT = frozenset({"sqlite", "postgresql"})
_PG_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
MANAGED_ON_UPDATE = frozenset({"id", "created_at", "updated_at"})
_INFO_CACHE: weakref.WeakKeyDictionary[type[Model], ModelInfo] = weakref.WeakKeyDictionary()


def jsonable(value: Any) -> Any:
    """A JSON-ready form of a column value (datetimes and dates as ISO-8601 text)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Names, columns and converters of one model."""

    model: type[Model]
    table: sa.Table
    singular: str
    plural: str
    id_prefix: str
    columns: Mapping[str, sa.Column[Any]]
    json_converters: Mapping[str, JsonConverter]
    python_defaults: Mapping[str, Any]
    parsers: Mapping[str, Callable[[str], Any]]

    @property
    def name(self) -> str:
        """The model's class name, used in error messages."""
        return self.model.__name__

    def column(self, field: str) -> sa.Column[Any]:
        """The column for ``field``, or :class:`ValidationError` naming model and field."""
        try:
            return self.columns[field]
        except (KeyError, TypeError):
            raise ValidationError(
                f"{self.name} has no field {field!r}; known fields: {', '.join(self.columns)}",
                record=self.name,
                field=str(field),
            ) from None

    def parse(self, field: str, value: Any) -> Any:
        """``value`` for ``field``, read from its JSON form (ISO text, decimal text) if needed.

        Records returned by the service can so be written back unchanged.
        """
        parser = self.parsers.get(field)
        if parser is None or not isinstance(value, str):
            return value
        try:
            return parser(value)
        except (ValueError, ArithmeticError):
            raise ValidationError(
                f"{self.name}.{field}: {value!r} is not a valid {parser.__name__}",
                record=self.name,
                field=field,
            ) from None

    def check_fields(self, fields: Any) -> None:
        """Raise :class:`ValidationError` for the first name in ``fields`` not a column."""
        for field in fields:
            self.column(field)

    def read_expression(self, column: sa.Column[Any], dialect: str) -> sa.ColumnElement[Any]:
        """``column`` as selected for JSON output: UTC datetimes come back as ISO text."""
        if not isinstance(column.type, UtcDateTime):
            return column
        if dialect not in _DATETIME_AS_TEXT:
            return column
        if dialect == "sqlite":
            # Stored as the canonical ISO text already.
            return sa.type_coerce(column, sa.String()).label(column.key)
        return sa.func.to_char(sa.func.timezone("UTC", column), _PG_ISO).label(column.key)

    def to_json(
        self, keys: Sequence[str], rows: Iterable[Sequence[Any]], dialect: str
    ) -> list[dict[str, Any]]:
        """JSON-ready dicts of rows selected through :meth:`read_expression`.

        ``rows`` (best a list, as ``Result.fetchall()`` gives) have one value per key.
        """
        converters = _row_converters(self, tuple(keys), dialect)
        if type(rows) is not list:
            rows = list(rows)
        with paused_gc(len(rows)):
            records = [dict(zip(keys, row, strict=False)) for row in rows]
        for record in records if converters else ():
            for key, convert in converters:
                value = record[key]
                if value is not None:
                    record[key] = convert(value)
        return records


_CONVERTERS: dict[tuple[type[Model], tuple[str, ...], str], list[tuple[str, JsonConverter]]] = {}


def _row_converters(
    info: ModelInfo, keys: tuple[str, ...], dialect: str
) -> list[tuple[str, JsonConverter]]:
    """The fields of ``keys`` whose read value still needs a JSON converter, with it."""
    cache_key = (info.model, keys, dialect)
    converters = _CONVERTERS.get(cache_key)
    if converters is None:
        as_text = dialect in _DATETIME_AS_TEXT
        converters = [
            (key, convert)
            for key in keys
            if (convert := info.json_converters.get(key)) is not None
            and not (as_text and isinstance(info.columns[key].type, UtcDateTime))
        ]
        if len(_CONVERTERS) >= 1024:
            _CONVERTERS.clear()
        _CONVERTERS[cache_key] = converters
    return converters


def model_info(model: type[Model]) -> ModelInfo:
    """Inspect ``model`` (cached on the class)."""
    cached = _INFO_CACHE.get(model)
    if cached is not None:
        return cached
    table = model.__table__
    if not isinstance(table, sa.Table):
        raise DefinitionError(f"model {model.__name__} must map exactly one table")
    singular = model.__singular__ or snake_case(model.__name__)
    columns = {column.key: column for column in table.columns}
    info = ModelInfo(
        model=model,
        table=table,
        singular=singular,
        plural=model.__plural__ or pluralize(singular),
        id_prefix=model.__id_prefix__,
        columns=columns,
        json_converters={
            key: converter
            for key, column in columns.items()
            if (converter := _json_converter(column.type)) is not None
        },
        python_defaults={key: _python_default(model, column) for key, column in columns.items()},
        parsers={
            key: parser
            for key, column in columns.items()
            if (parser := _parser(column.type)) is not None
        },
    )
    _INFO_CACHE[model] = info
    return info


def _json_converter(column_type: sa.types.TypeEngine[Any]) -> JsonConverter | None:
    if isinstance(column_type, UtcDateTime):
        return utc_iso
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return jsonable
    if python_type in (str, int, float, bool, dict, list):
        return None
    return jsonable


_PARSERS: dict[type[Any], Callable[[str], Any]] = {
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
    time: time.fromisoformat,
    Decimal: Decimal,
    uuid.UUID: uuid.UUID,
}


def _parser(column_type: sa.types.TypeEngine[Any]) -> Callable[[str], Any] | None:
    if isinstance(column_type, UtcDateTime):
        return None  # it reads ISO text itself
    try:
        return _PARSERS.get(column_type.python_type)
    except NotImplementedError:
        return None


def _python_default(model: type[Model], column: sa.Column[Any]) -> Any:
    default = column.default
    if default is None:
        if column.server_default is not None:
            raise DefinitionError(
                f"{model.__name__}.{column.key} has only a server default; give it a Python "
                "default= as well, so the service can return the stored value without "
                "reading it back"
            )
        return None
    if isinstance(default, sa.ColumnDefault) and default.is_scalar:
        return default.arg
    # Callable defaults are evaluated per row by the writer.
    return default
