"""The declarative base every module model derives from.

``Model`` gives each table a prefixed ULID primary key (``brand_01H...``, the prefix from
``__id_prefix__``) and timezone-aware UTC ``created_at``, ``updated_at`` and ``deleted_at``
columns. Datetimes are read back as aware UTC values on every database: SQLite stores them
as fixed-width ISO-8601 UTC text (so text order is time order), PostgreSQL as
``timestamptz``.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from typing_extensions import override

from loomwork.errors import DefinitionError
from loomwork.modules._ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime; also accepts ISO-8601 strings (as found in JSON outputs)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    @override
    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _SqliteUtcText()
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    @override
    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return utc_iso_fast(value)
        return to_utc(value)

    @override
    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return to_utc(value)


class _SqliteUtcText(sa.String):
    """UTC text ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` in a column declared ``DATETIME``."""

    __visit_name__ = "DATETIME"


def utc_iso(value: datetime | str) -> str:
    """Fixed-width ISO-8601 UTC text (``2024-01-02T03:04:05.000000+00:00``).

    This is both what services return and what SQLite stores, so text order is time order
    and a returned record can be written back unchanged.
    """
    return to_utc(value).isoformat(timespec="microseconds")


# The text utc_iso returns: ASCII digits in every digit position, offset +00:00.
_UTC_DIGITS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"
_UTC_ISO_TEXT = re.compile(_UTC_DIGITS + r"\+00:00", re.ASCII)


def utc_iso_fast(value: datetime | str) -> str:
    """``utc_iso(value)``, returning text that is already in that form as it is.

    Records read back from a service carry their datetimes as this text, so writing them
    again (a re-sync, a restore) would otherwise parse and reformat every value. The text
    is still parsed once, which rejects impossible dates and times (``2024-02-30``) with
    the same ``ValueError`` as :func:`utc_iso`; anything else goes through
    :func:`utc_iso`.
    """
    if type(value) is str and len(value) == 32 and _UTC_ISO_TEXT.fullmatch(value) is not None:
        datetime.fromisoformat(value)
        return value
    return utc_iso(value)


_JOINED = {
    zulu: re.compile(f"(?:{_UTC_DIGITS}{end}\n)*{_UTC_DIGITS}{end}", re.ASCII)
    for zulu, end in ((False, r"\+00:00"), (True, r"(?:Z|\+00:00)"))
}


def all_utc_iso(values: list[Any], *, zulu: bool = False) -> bool:
    """True when every value is :func:`utc_iso` text naming a real instant, checked in bulk.

    With ``zulu=True`` a ``Z`` may stand for ``+00:00``. The bulk form of
    :func:`utc_iso_fast`'s check: one regular expression over the joined texts and one
    ``fromisoformat`` pass (impossible dates like ``2024-02-30``), instead of a function
    call per value. False for anything else, and for an empty list.
    """
    if not values:
        return False
    try:
        joined = "\n".join(values)
    except TypeError:
        return False
    if _JOINED[zulu].fullmatch(joined) is None or set(map(type, values)) != {str}:
        return False
    try:
        deque(map(datetime.fromisoformat, values), maxlen=0)
    except ValueError:
        return False
    return True


def to_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime or ISO-8601 text; naive values are taken as UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class _Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}


class Model(_Base):
    """Base of module models: prefixed ULID ``id`` plus UTC timestamps.

    Declare ``__tablename__`` and ``__id_prefix__`` (``"brand"`` gives ``brand_01H...``).
    Optional: ``__singular__`` (name used in method and event names, default the snake_case
    class name) and ``__plural__`` (default: an English plural of the singular).
    """

    __abstract__ = True
    __id_prefix__: ClassVar[str]
    __singular__: ClassVar[str | None] = None
    __plural__: ClassVar[str | None] = None

    @declared_attr
    def id(cls) -> Mapped[str]:  # noqa: N805 - declared_attr receives the class
        """The primary key, ``<__id_prefix__>_<ULID>``."""
        prefix = cls.__id_prefix__
        return mapped_column(
            sa.String, primary_key=True, default=lambda: new_id(prefix), sort_order=-100
        )

    created_at: Mapped[datetime] = mapped_column(default=utcnow, sort_order=100)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, sort_order=101)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None, sort_order=102)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if not cls.__dict__.get("__abstract__", False):
            prefix = getattr(cls, "__id_prefix__", None)
            if not isinstance(prefix, str) or not prefix.isidentifier():
                raise DefinitionError(
                    f"model {cls.__name__} needs __id_prefix__, an identifier such as "
                    f'"{cls.__name__.lower()}", used for its ids'
                )
        super().__init_subclass__(**kwargs)
