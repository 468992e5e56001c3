"""The fast paths of bulk create and list give what the general paths give.

* Datetime values already in the canonical UTC text are written as they are; every other
  value (and every invalid one) goes through ``utc_iso`` as before.
* ``list_<plural>`` reuses one statement per query shape with parameters for the values;
  it must return what the statement built per call returns, for every filter shape and
  IN-list size (including lists longer than SQLite's old 999-parameter limit).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.errors import ConflictError, ValidationError
from loomwork.modules import Model, ModuleService
from loomwork.modules._filters import LARGE_IN_LIST
from loomwork.modules._model import all_utc_iso, utc_iso, utc_iso_fast
from loomwork.modules._reads import Query, _build_statement, list_records
from loomwork.modules._rows import Rows, _build_each, _build_plain, _multi_row_insert, _plan
from loomwork.modules._shaped import _prepare, _prepared, _shape
from loomwork.modules._table import model_info

from .fixtures.brand import BrandModuleService
from .fixtures.brand.models import Brand

CANONICAL = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"
OFFSETS = st.integers(min_value=-23 * 60 + 1, max_value=23 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.none(), OFFSETS),
)


def iso_forms(moment: datetime) -> st.SearchStrategy[Any]:
    """``moment`` itself and ISO-8601 texts of it that ``datetime.fromisoformat`` reads."""
    texts = [
        moment.isoformat(sep=sep, timespec=timespec)
        for sep in ("T", " ")
        for timespec in ("auto", "seconds", "milliseconds", "microseconds")
    ]
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    texts.append(utc.isoformat(timespec="microseconds"))
    texts.append(utc.isoformat(timespec="microseconds").replace("+00:00", "Z"))
    return st.sampled_from([moment, *texts])


ANY_FORM = MOMENTS.flatmap(iso_forms)


def outcome(convert: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", convert(value)
    except Exception as error:  # the error itself is what is compared
        return type(error).__name__, str(error)


@given(value=ANY_FORM)
def test_utc_iso_fast_equals_utc_iso_for_any_datetime_form(value: Any) -> None:
    assert utc_iso_fast(value) == utc_iso(value)


@given(
    text=st.from_regex(CANONICAL, fullmatch=True)
    | st.from_regex(re.compile(CANONICAL, re.ASCII), fullmatch=True)
    | st.text(max_size=40)
)
@example(text="2024-02-30T00:00:00.000000+00:00")  # the shape, but no such day
@example(text="2023-02-29T12:00:00.000000+00:00")
@example(text="2024-01-01T24:00:00.000000+00:00")
@example(text="0000-01-01T00:00:00.000000+00:00")
@example(text="2026-W48-4T15:30:00.123456+00:00")  # an ISO week date, not canonical
@example(text="٢٠٢٤-01-01T00:00:00.000000+00:00")  # non-ASCII digits
@example(text="2024-01-01T00:00:00.000000-00:00")
@example(text="2024-01-01 00:00:00.000000+00:00")
@example(text="2024-01-01T00:00:00,000000+00:00")
def test_utc_iso_fast_equals_utc_iso_for_any_text(text: str) -> None:
    """Same text back, or the same error, for valid, invalid and look-alike text."""
    assert outcome(utc_iso_fast, text) == outcome(utc_iso, text)


def test_canonical_text_is_returned_as_is() -> None:
    text = "2026-11-26T15:30:00.123456+00:00"
    assert utc_iso_fast(text) is text
    with pytest.raises(ValueError, match="day is out of range"):
        utc_iso_fast("2024-02-30T00:00:00.000000+00:00")


class Reading(Model):
    """A model with a datetime column besides the managed timestamps."""

    __tablename__ = "fixture_reading"
    __id_prefix__ = "rdg"

    label: Mapped[str]
    taken_at: Mapped[datetime | None] = mapped_column(default=None)
    day: Mapped[date | None] = mapped_column(default=None)


class ReadingService(ModuleService, models=[Reading]):
    """Generated verbs for readings."""


@pytest.fixture
def readings(engine: sa.Engine) -> Iterator[ReadingService]:
    table = Model.metadata.tables["fixture_reading"]
    table.drop(engine, checkfirst=True)
    table.create(engine)
    yield ReadingService(engine)
    table.drop(engine)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.none() | ANY_FORM, min_size=1, max_size=30))
def test_datetimes_written_by_create_read_back_as_utc_iso(
    readings: ReadingService, values: list[Any]
) -> None:
    items = [
        {"label": f"r{index}", "taken_at": value, "deleted_at": value if index % 3 else None}
        for index, value in enumerate(values)
    ]
    expected = [None if value is None else utc_iso(value) for value in values]
    created = asyncio.run(readings.create_readings(items))
    assert [row["taken_at"] for row in created] == expected
    listed = asyncio.run(
        readings.list_readings({"id": [row["id"] for row in created]}, with_deleted=True)
    )
    assert listed == created
    # A record read back is written back unchanged (the canonical text passes as it is).
    again = asyncio.run(readings.create_readings([{**row, "id": None} for row in created]))
    assert [{**row, "id": None} for row in again] == [{**row, "id": None} for row in created]


@pytest.mark.parametrize(
    "bad",
    [
        "soon",
        "2024-02-30T00:00:00.000000+00:00",
        "2024-01-01T25:00:00.000000+00:00",
        "2026-11-26T15:30:00.123456+00:0",
    ],
)
async def test_invalid_datetime_text_in_create_raises_as_before(
    readings: ReadingService, bad: str
) -> None:
    """utc_iso's own ``ValueError``, as before the fast path; nothing is written."""
    items = [{"label": "ok", "taken_at": "2024-01-01T00:00:00.000000+00:00"}]
    with pytest.raises(ValueError, match=re.escape(str(outcome(utc_iso, bad)[1]))):
        await readings.create_readings([*items, {"label": "bad", "taken_at": bad}])
    assert await readings.list_readings() == []


async def test_other_special_columns_still_parse_with_validation_errors(
    readings: ReadingService,
) -> None:
    created = await readings.create_readings(
        {"label": "d", "day": "2024-05-06", "taken_at": datetime(2024, 5, 6, 7, 8, 9)}
    )
    assert created["day"] == "2024-05-06"
    assert created["taken_at"] == "2024-05-06T07:08:09.000000+00:00"
    with pytest.raises(ValidationError, match=r"Reading\.day") as caught:
        await readings.create_readings({"label": "d", "day": "2024-02-30"})
    assert caught.value.field == "day"


# --- list_<plural>: shared statements ------------------------------------------------------

BRAND_INFO = model_info(Brand)
SELECTS = st.none() | st.lists(
    st.sampled_from(["id", "name", "external_id", "rank", "created_at", "deleted_at"]),
    min_size=1,
    max_size=4,
)
ORDERS = st.none() | st.dictionaries(
    st.sampled_from(["name", "rank", "external_id", "created_at"]),
    st.sampled_from(["asc", "DESC"]),
    max_size=2,
)
NAMES = [f"brand-{i}" for i in range(12)]


def padded(values: list[Any], padding: int, kind: str) -> list[Any]:
    extra = [f"missing-{i}" if kind == "text" else 10_000 + i for i in range(padding)]
    return [*extra[: padding // 2], *values, *extra[padding // 2 :]]


PADDING = st.sampled_from([0, 0, 3, LARGE_IN_LIST - 2, LARGE_IN_LIST, 1_200])


def text_condition(pool: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.sampled_from(pool),
        st.builds(padded, st.lists(st.sampled_from(pool), max_size=4), PADDING, st.just("text")),
        st.lists(st.sampled_from(pool), max_size=3).map(tuple),
    )


RANK_CONDITION = st.one_of(
    st.integers(-1, 4),
    st.builds(padded, st.lists(st.integers(-1, 4), max_size=4), PADDING, st.just("int")),
    st.lists(st.integers(-1, 4), max_size=3).map(frozenset),
    st.floats(-1, 4, allow_nan=False),  # not the column's type: built per call
    st.fixed_dictionaries({"$gte": st.integers(-1, 4)}),  # operators: built per call
)
FILTERS = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "name": text_condition(NAMES),
        "external_id": text_condition(["ext-1", "ext-2", "ext-5", "nope"]),
        "rank": RANK_CONDITION,
        "id": st.builds(padded, st.just([]), PADDING, st.just("text")),
    },
)
QUERIES = st.builds(
    Query,
    filters=FILTERS,
    skip=st.sampled_from([0, 0, 2]),
    take=st.sampled_from([None, None, 0, 3]),
    order=ORDERS,
    select=SELECTS,
    with_deleted=st.booleans(),
)


@pytest.fixture
def seeded_brands(service: BrandModuleService) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = asyncio.run(
        service.create_brands(
            [
                {"name": name, "rank": i % 4, "external_id": f"ext-{i}" if i % 3 else None}
                for i, name in enumerate(NAMES)
            ]
        )
    )
    asyncio.run(service.soft_delete_brands([rows[1]["id"], rows[5]["id"]]))
    return rows


def built_per_call(conn: sa.Connection, query: Query) -> list[dict[str, Any]]:
    """What the statement built per call (values inline) returns."""
    statement, keys = _build_statement(BRAND_INFO, conn.dialect.name, query)
    return BRAND_INFO.to_json(keys, conn.execute(statement).fetchall(), conn.dialect.name)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(queries=st.lists(QUERIES, min_size=1, max_size=4))
def test_shared_statements_return_what_per_call_statements_return(
    engine: sa.Engine, seeded_brands: list[dict[str, Any]], queries: list[Query]
) -> None:
    with engine.connect() as conn:
        for query in queries:
            assert list_records(BRAND_INFO, conn, query) == built_per_call(conn, query)


async def test_id_lists_of_every_size_across_calls(
    service: BrandModuleService, seeded_brands: list[dict[str, Any]]
) -> None:
    """One shape, lists that change size (and IN kind) from call to call."""
    live = [row for row in seeded_brands if row["name"] not in ("brand-1", "brand-5")]
    wanted = [row["id"] for row in live[::2]]
    for padding in (0, 10, LARGE_IN_LIST - len(wanted), LARGE_IN_LIST, 999, 1_000, 2_500, 0):
        ids = padded(wanted, padding, "text")
        found = await service.list_brands({"id": ids}, select=["id", "name"])
        assert found == [{"id": row["id"], "name": row["name"]} for row in live[::2]]
    assert await service.list_brands({"id": []}) == []


async def test_a_shape_reuses_one_statement(
    service: BrandModuleService, seeded_brands: list[dict[str, Any]], engine: sa.Engine
) -> None:
    queries = [
        Query(filters={"name": names}, select=["name"], take=take)
        for names, take in ((["brand-0"], 5), (["brand-2", "brand-3", "nope"], 1))
    ]
    keys = {}
    for query in queries:
        shaped = _shape(BRAND_INFO, query, engine.dialect.name)
        assert shaped is not None
        keys[shaped[0]] = shaped[1]
    assert len(keys) == 1
    first = await service.list_brands({"name": ["brand-0"]}, select=["name"], take=5)
    statement = _prepared[next(iter(keys))][0]
    second = await service.list_brands(
        {"name": ["brand-2", "brand-3", "nope"]}, select=["name"], take=1
    )
    assert _prepared[next(iter(keys))][0] is statement
    assert first == [{"name": "brand-0"}]
    assert second == [{"name": "brand-2"}]


STRUCTURE_QUERIES = [
    Query(),
    Query(filters={"name": "a"}),
    Query(filters={"name": ["a", "b"]}),
    Query(filters={"name": []}),
    Query(filters={"name": ("é", "b")}),
    Query(filters={"name": [f"x{i}" for i in range(LARGE_IN_LIST)]}),
    Query(filters={"rank": [1, 2]}),
    Query(filters={"rank": list(range(LARGE_IN_LIST + 1))}),
    Query(filters={"rank": 2**40}),
    Query(filters={"created_at": "2024-01-01T00:00:00+00:00"}),
    Query(filters={"created_at": datetime(2024, 1, 1, tzinfo=UTC)}),
    Query(
        filters={"external_id": None, "rank": 3},
        select=["name", "created_at"],
        order={"rank": "DESC", "external_id": "asc"},
        skip=2,
        take=5,
        with_deleted=True,
    ),
    Query(skip=3),
    Query(take=0),
]


def structure(statement: sa.Select[Any], dialect: sa.Dialect) -> tuple[str, list[str]]:
    """The SQL with parameter names blanked, and each parameter's type and expansion."""
    compiled = statement.compile(dialect=dialect)
    sql = re.sub(r"__\[POSTCOMPILE_\w+\]", "(?)", str(compiled))
    sql = re.sub(r"%\(\w+\)s|:\w+|\?", "?", sql)
    names = compiled.positiontup or list(compiled.bind_names.values())
    binds = [compiled.binds[name] for name in names]
    return sql, [f"{bind.type!r} expanding={bind.expanding}" for bind in binds]


@pytest.mark.parametrize(
    "dialect",
    [sqlite.dialect(), psycopg.dialect()],  # type: ignore[no-untyped-call]
    ids=["sqlite", "pg"],
)
@pytest.mark.parametrize("query", STRUCTURE_QUERIES)
def test_shared_statement_is_the_per_call_statement(query: Query, dialect: sa.Dialect) -> None:
    """Same SQL, same parameter types: only the parameter names differ."""
    shaped = _shape(BRAND_INFO, query, dialect.name)
    assert shaped is not None
    shared, shared_keys = _prepare(BRAND_INFO, dialect.name, query, shaped[0])
    per_call, keys = _build_statement(BRAND_INFO, dialect.name, query)
    assert shared_keys == keys
    assert structure(shared, dialect) == structure(per_call, dialect)


@pytest.mark.parametrize(
    "filters",
    [
        {"rank": True},
        {"rank": 1.5},
        {"name": 3},
        {"name": ["a", 3]},
        {"name": {"$in": ["a"]}},
        {"$or": [{"name": "a"}]},
        {"nope": "a"},
        {"name": [None, "a"]},
    ],
)
def test_shapes_that_are_built_per_call(filters: dict[str, Any]) -> None:
    assert _shape(BRAND_INFO, Query(filters=filters), "sqlite") is None


# --- bulk create: the plain path and multi-row inserts ------------------------------------

CANONICAL_TEXTS = st.from_regex(re.compile(CANONICAL, re.ASCII), fullmatch=True)
DATETIME_VALUES = st.one_of(
    st.none(), CANONICAL_TEXTS, MOMENTS.map(utc_iso), ANY_FORM, st.text(max_size=34), st.integers()
)


def is_canonical(value: Any) -> bool:
    return type(value) is str and outcome(utc_iso_fast, value) == ("value", value)


@given(values=st.lists(DATETIME_VALUES.filter(lambda value: value is not None), max_size=12))
@example(values=["2024-02-30T00:00:00.000000+00:00"])
@example(values=["2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.000000+00:00"])
@example(values=["2024-02-30T00:00:00.000000Z"])
@example(values=["2024-01-01T00:00:00.000000+00:00\n2024-01-01T00:00:00.000000+00:00"])
@example(values=["2024-01-01T00:00:00.000000+00:00", "2024-01-01T00:00:00.000000+00:00 "])
def test_all_utc_iso_is_utc_iso_fast_returning_each_value_as_it_is(values: list[Any]) -> None:
    assert all_utc_iso(values) == (bool(values) and all(map(is_canonical, values)))
    assert all_utc_iso(values, zulu=True) == (bool(values) and all(map(is_zulu, values)))


def is_zulu(value: Any) -> bool:
    """Canonical text, or canonical text with ``Z`` for ``+00:00``."""
    if type(value) is str and value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return is_canonical(value)


READING_INFO = model_info(Reading)
SQLITE = sqlite.dialect()  # type: ignore[no-untyped-call]
READING_ITEMS = st.fixed_dictionaries(
    {"label": st.sampled_from(["a", "b"])},
    optional={
        "id": st.none() | st.sampled_from(["rdg_given_1", "rdg_given_2"]),
        "taken_at": DATETIME_VALUES,
        "deleted_at": st.none() | CANONICAL_TEXTS,
        "day": st.none() | st.just("2024-05-06"),
    },
)


def without_generated_ids(rows: Rows) -> list[dict[str, Any]]:
    return [
        {**record, "id": record["id"] if record["id"].startswith("rdg_given") else None}
        for record in rows.params()
    ]


@given(items=st.lists(READING_ITEMS, min_size=1, max_size=8))
def test_plain_build_makes_the_rows_item_by_item_makes(items: list[dict[str, Any]]) -> None:
    now = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    plan = _plan(READING_INFO, SQLITE)
    plain = _build_plain(READING_INFO, plan, items, now)
    eligible = all(
        "day" not in item
        and all(
            is_canonical(item.get(key)) or item.get(key) is None
            for key in ("taken_at", "deleted_at")
        )
        for item in items
    )
    assert (plain is not None) == eligible
    if plain is not None:
        each = _build_each(READING_INFO, plan, items, now)
        assert without_generated_ids(plain) == without_generated_ids(each)
        assert len({record["id"] for record in plain.records}) == len(
            {record["id"] for record in each.records}
        )


@pytest.mark.parametrize("count", [1, 249, 250, 251, 777])
async def test_bulk_create_of_any_size_reads_back(readings: ReadingService, count: int) -> None:
    items = [
        {"label": f"r{i}", "taken_at": f"2024-01-01T00:00:{i % 60:02d}.{i:06d}+00:00"}
        for i in range(count)
    ]
    created = await readings.create_readings(items)
    assert [row["label"] for row in created] == [item["label"] for item in items]
    assert [row["taken_at"] for row in created] == [item["taken_at"] for item in items]
    listed = await readings.list_readings({"id": [row["id"] for row in created]})
    assert sorted(listed, key=lambda row: row["id"]) == sorted(created, key=lambda row: row["id"])


async def test_a_conflict_in_any_statement_of_a_bulk_create_writes_nothing(
    service: BrandModuleService,
) -> None:
    items = [{"name": f"b{i}"} for i in range(600)]
    items.append({"name": "b420"})  # a second b420: the unique name index refuses it
    with pytest.raises(ConflictError):
        await service.create_brands(items)
    assert await service.list_brands() == []
    assert len(await service.create_brands(items[:-1])) == 600


@pytest.mark.parametrize("info", [READING_INFO, BRAND_INFO], ids=["reading", "brand"])
def test_the_multi_row_insert_is_the_statement_sqlalchemy_compiles(info: Any) -> None:
    rows = 3
    made = _multi_row_insert(SQLITE, info, rows)
    assert made is not None
    compiled = (
        info.table.insert().values([dict.fromkeys(info.columns)] * rows).compile(dialect=SQLITE)
    )
    assert made[0] == str(compiled)
    record = {key: f"value of {key}" for key in info.columns}
    assert list(made[1](record)) == [
        record[name.rsplit("_m", 1)[0]] for name in compiled.positiontup[: len(info.columns)]
    ]
    assert _multi_row_insert(psycopg.dialect(), info, rows) is None  # type: ignore[no-untyped-call]
