"""``find_brands_by`` returns what ``list_brands`` returns, on SQLite and PostgreSQL.

The lookup of ``load-store-brands`` runs one raw statement per field with the page's
values as one JSON parameter; these tests hold it to the generic verb: same records,
same keys, same value formats, same soft-delete semantics, for live and deleted brands,
linked and unlinked ones, names with quotes, case variants and unicode, empty value lists
and duplicates.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loomwork.db import create_engine
from loomwork.errors import ValidationError

from .conftest import brand
from .project import load

service_code = load("modules.brand.service")
find_store_rows = load("workflows.sync_brands_from_system.steps.load_store_brands").find_store_rows
STORE_FIELDS: tuple[str, ...] = load("workflows.sync_brands_from_system.plan").STORE_FIELDS
DELETED = "2026-01-02T03:04:05.123456+00:00"
SYNCED = "2025-12-31T23:59:59.000001+00:00"
# Names that an SQL text, a JSON text or a comparison could get wrong. PostgreSQL text
# cannot hold NUL, and SQLite's json_each cuts a string at an escaped NUL (as the JSON
# path of list_brands does for lists of 500 values or more): no NUL here.
TRICKY = [
    "Acme",
    "acme",
    "ACME",
    "O'Brien & Sons",
    'Say "cheese"',
    "back\\slash",
    "100% _pure_",
    "Ünïcödé",
    unicodedata.normalize("NFD", "Ünïcödé"),
    "日本のブランド",
    "pizza 🍕",
    " padded ",
    "[1, 2]",
    "null",
]


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[Any]:
    """The brand service on an empty database of each backend."""
    engine = create_engine(db_url)
    built = brand.module.create_service(engine)
    try:
        yield built
    finally:
        await built.aclose()
        engine.dispose()


def by_id(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["id"])


async def both(
    service: Any, field: str, values: list[str], *, live_only: bool, select: Any = STORE_FIELDS
) -> list[dict[str, Any]]:
    """The lookup's rows, after checking they are exactly ``list_brands``'s."""
    found = await service.find_brands_by(field, values, live_only=live_only, select=select)
    expected = await service.list_brands({field: values}, select=select, with_deleted=not live_only)
    assert by_id(found) == by_id(expected)
    assert all(list(row) == list(expected[0]) for row in found)  # same keys, same order
    return found


async def seed_store(service: Any) -> dict[str, dict[str, Any]]:
    """A store with live and deleted, linked and unlinked brands; records by label."""
    items = {
        "acme": {"name": "Acme", "external_id": "sys_1", "synced_name": "Acme"},
        "ACME": {"name": "ACME", "external_id": None},
        "quote": {"name": "O'Brien & Sons", "external_id": 'sys_"2"', "synced_name": "Old"},
        "unicode": {"name": "日本のブランド", "external_id": "sys_ü"},
        "nfd": {"name": unicodedata.normalize("NFD", "Ünïcödé"), "external_id": None},
        "gone_acme": {"name": "Acme", "external_id": "sys_3", "deleted_at": DELETED},
        "gone_acme_2": {"name": "Acme", "external_id": None, "deleted_at": DELETED},
        "gone_only": {"name": "Gone", "external_id": "sys_4", "deleted_at": DELETED},
    }
    created = await service.create_brands(
        [{"system_updated_at": SYNCED, **item} for item in items.values()]
    )
    return dict(zip(items, created, strict=True))


async def test_each_lookup_returns_the_rows_list_brands_returns(service: Any) -> None:
    store = await seed_store(service)
    ids = {label: row["id"] for label, row in store.items()}

    async def labels(field: str, values: list[str], *, live_only: bool) -> set[str]:
        found = await both(service, field, values, live_only=live_only)
        return {label for label, brand_id in ids.items() for row in found if row["id"] == brand_id}

    # Names: exact, case-sensitive and not normalized; live_only leaves deleted holders out.
    assert await labels("name", ["Acme"], live_only=True) == {"acme"}
    assert await labels("name", ["Acme"], live_only=False) == {"acme", "gone_acme", "gone_acme_2"}
    assert await labels("name", ["ACME", "acme", "Ünïcödé"], live_only=True) == {"ACME"}
    nfd = unicodedata.normalize("NFD", "Ünïcödé")
    assert await labels("name", [nfd, "O'Brien & Sons"], live_only=True) == {"nfd", "quote"}
    assert await labels("name", ["日本のブランド"] * 3 + ["Gone"], live_only=True) == {"unicode"}
    assert await labels("name", ["Gone", "Gone"], live_only=False) == {"gone_only"}
    # Links: deleted brands included when asked for.
    assert await labels("external_id", ['sys_"2"', "sys_ü", "sys_3"], live_only=False) == {
        "quote",
        "unicode",
        "gone_acme",
    }
    assert await labels("external_id", ['sys_"2"', "sys_3", "sys_9"], live_only=True) == {"quote"}
    assert await labels("id", [ids["gone_only"], ids["acme"], ids["acme"]], live_only=False) == {
        "gone_only",
        "acme",
    }
    assert await labels("id", [ids["gone_only"], "brand_missing"], live_only=True) == set()
    assert await labels("synced_name", ["Old", "Acme", "acme"], live_only=False) == {
        "quote",
        "acme",
    }
    # Nothing asked, nothing found (and no statement needed).
    assert await service.find_brands_by("name", [], live_only=True) == []
    assert await service.find_brands_by("id", (), live_only=False, select=["id"]) == []


async def test_rows_carry_the_same_values_as_list_brands(service: Any) -> None:
    store = await seed_store(service)
    found = await service.find_brands_by(
        "external_id", ["sys_1", "sys_3"], live_only=False, select=STORE_FIELDS
    )
    rows = {row["id"]: row for row in found}
    acme, gone = rows[store["acme"]["id"]], rows[store["gone_acme"]["id"]]
    # Datetimes are the canonical UTC text the service returns, None stays None.
    assert acme["system_updated_at"] == SYNCED
    assert acme["deleted_at"] is None
    assert gone["deleted_at"] == DELETED
    assert acme["updated_at"] == store["acme"]["updated_at"]
    assert acme == {field: store["acme"][field] for field in STORE_FIELDS}
    # Every field when select is None, as list_brands.
    everything = await both(service, "id", [store["ACME"]["id"]], live_only=True, select=None)
    assert everything == [store["ACME"]]


async def test_long_value_lists_match_list_brands(service: Any) -> None:
    await service.create_brands(
        [
            {
                "name": f"Brand {i} «{i % 7}»",
                "external_id": f"sys_{i:04d}" if i % 3 else None,
                "deleted_at": DELETED if i % 5 == 0 else None,
            }
            for i in range(300)
        ]
    )
    # 700 values (list_brands sends these as one parameter too): hits, misses, duplicates.
    externals = [f"sys_{i:04d}" for i in range(0, 600)] + [f"sys_{i:04d}" for i in range(100)]
    names = [f"Brand {i} «{i % 7}»" for i in range(0, 700)]
    assert len(await both(service, "external_id", externals, live_only=False)) == 200
    assert len(await both(service, "external_id", externals, live_only=True)) == 160
    assert len(await both(service, "name", names, live_only=True)) == 240
    assert len(await both(service, "name", names[:250], live_only=False)) == 250


async def test_a_lookup_joins_the_open_transaction(service: Any) -> None:
    async with service.transaction():
        [created] = await service.create_brands([{"name": "Fresh", "external_id": "sys_new"}])
        found = await service.find_brands_by(
            "external_id", ["sys_new"], live_only=True, select=["id"]
        )
        assert found == [{"id": created["id"]}]


@pytest.mark.parametrize(
    ("field", "select", "bad"),
    [
        ("nope", None, "nope"),
        ("created_at", None, "created_at"),
        ("name", ["id", "nope"], "nope"),
        ("name", [], "select"),
        ("name", "id", "select"),
    ],
)
async def test_bad_fields_are_validation_errors(
    service: Any, field: str, select: Any, bad: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        await service.find_brands_by(field, ["x"], live_only=True, select=select)
    assert raised.value.field == bad
    # Also with nothing to look up, as list_brands.
    with pytest.raises(ValidationError):
        await service.find_brands_by(field, [], live_only=True, select=select)


async def reference_store_rows(service: Any, keys: Sequence[Any]) -> list[dict[str, Any]]:
    """``find_store_rows`` as it was, on ``list_brands``."""
    rows: dict[str, dict[str, Any]] = {}
    ids = [record_id for record_id, _, _ in keys]
    links = [link for _, link, _ in keys if link]
    for field, values in (("external_id", ids), ("id", links)):
        if values:
            found = await service.list_brands(
                {field: values}, select=STORE_FIELDS, with_deleted=True
            )
            rows.update((row["id"], row) for row in found)
    held = {row["name"] for row in rows.values() if row["deleted_at"] is None}
    names = [name for _, _, name in keys if name not in held]
    if names:
        found = await service.list_brands({"name": names}, select=STORE_FIELDS)
        rows.update((row["id"], row) for row in found)
    return list(rows.values())


async def test_find_store_rows_finds_what_the_list_brands_lookups_found(service: Any) -> None:
    store = await seed_store(service)
    [pushed] = await service.create_brands([{"name": "Pushed", "external_id": None}])
    keys = [
        ("sys_1", None, "Acme"),  # linked, holds its name
        ("sys_1", store["acme"]["id"], "Acme"),  # also linked by id: found once
        ("sys_new", pushed["id"], "Pushed"),  # linked by id only (a push's link)
        ("sys_3", None, "ACME"),  # linked to a deleted row; the name is held elsewhere
        ("sys_5", None, "日本のブランド"),  # unlinked, the name is another brand's
        ("sys_6", None, "Gone"),  # the only holder is deleted: nothing
        ("sys_7", "brand_missing", "O'Brien & Sons"),  # a dangling link
        ("sys_8", store["gone_only"]["id"], "Renamed"),  # only the link finds this row
    ]
    found = await find_store_rows(service, keys)
    expected = await reference_store_rows(service, keys)
    assert by_id(found) == by_id(expected)
    assert {row["id"] for row in found} == {
        store[label]["id"]
        for label in ("acme", "gone_acme", "ACME", "unicode", "quote", "gone_only")
    } | {pushed["id"]}
    assert await find_store_rows(service, []) == []


# A store of brands with names and links from small pools, so lookups hit, miss and
# repeat; live names stay unique (a taken name makes the brand a deleted one).
brand_specs = st.lists(
    st.tuples(st.sampled_from(TRICKY), st.booleans(), st.booleans()), max_size=12
)
free_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6
)


@pytest.fixture
def reused_service(db_url: str) -> Iterator[Any]:
    """One brand service for all the examples of a Hypothesis test (each empties it)."""
    engine = create_engine(db_url)
    built = brand.module.create_service(engine)
    try:
        yield built
    finally:
        asyncio.run(built.aclose())
        engine.dispose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(specs=brand_specs, data=st.data())
def test_any_lookup_matches_list_brands(
    reused_service: Any, specs: Any, data: st.DataObject
) -> None:
    service = reused_service
    with service.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM brand")
    live: set[str] = set()
    items = []
    for index, (name, deleted, linked) in enumerate(specs):
        gone = deleted or name in live
        if not gone:
            live.add(name)
        items.append(
            {
                "name": name,
                "external_id": f"{TRICKY[index % len(TRICKY)]}#{index}" if linked else None,
                "deleted_at": DELETED if gone else None,
                "synced_name": name if index % 2 else None,
            }
        )

    async def check() -> None:
        created = await service.create_brands(items) if items else []
        for field in ("id", "external_id", "name", "synced_name"):
            known = [row[field] for row in created if row[field] is not None]
            pool = st.sampled_from(known) if known else free_text
            values = data.draw(
                st.lists(st.one_of(pool, st.sampled_from(TRICKY), free_text), max_size=10),
                label=field,
            )
            for live_only in (True, False):
                await both(service, field, values, live_only=live_only)

    asyncio.run(check())


def explain(conn: sa.Connection, statement: str, values: list[str]) -> str:
    """The plan of a lookup statement as one text."""
    param = '["' + '", "'.join(values) + '"]'
    cursor: Any = conn.connection.cursor()
    try:
        if conn.dialect.name == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", (param,))
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        # Rule the other plans out: what is left shows whether the index can be probed.
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {statement}", (param,), prepare=False)
        return "\n".join(str(row[0]) for row in cursor.fetchall())
    finally:
        cursor.close()


@pytest.mark.parametrize(
    ("field", "live_only", "index"),
    [
        ("external_id", False, ("sqlite_autoindex_brand_2", "uq_brand_external_id")),
        ("id", False, ("sqlite_autoindex_brand_1", "pk_brand")),
        ("name", True, ("uq_brand_live_name", "uq_brand_live_name")),
    ],
)
async def test_the_lookups_of_find_store_rows_probe_an_index(
    service: Any, field: str, live_only: bool, index: tuple[str, str]
) -> None:
    # Enough brands that probing beats reading the index whole on PostgreSQL too.
    await service.create_brands(
        [{"name": f"Brand {i}", "external_id": f"sys_{i}"} for i in range(2000)]
    )
    lookup = service_code._lookup_statement(field, STORE_FIELDS, live_only)
    with service.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE brand")
        plan = explain(conn, lookup.statement(conn.dialect), ["Brand 1", "sys_2"])
    if service.engine.dialect.name == "sqlite":
        # One search of the index per value of the JSON array.
        assert f"SEARCH b USING INDEX {index[0]} ({field}=?)" in plan, plan
    else:
        assert f"Index Scan using {index[1]} on brand b" in plan, plan
        assert f"Index Cond: (({field})::text = v.value)" in plan, plan
