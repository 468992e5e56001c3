"""The store itself: the stored JSON of each brand, and opening files of an earlier version."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_brand_system import BrandConflict, BrandStore
from reference_brand_system._api import brand_json
from reference_brand_system._cursor import START
from reference_brand_system._store import BrandChanges

# How a listed brand was rendered before it was stored: the reference for the doc column.
RENDERED_AT_READ = (
    "json_object('id', printf('brd_%012d', seq), 'name', name, 'external_id', external_id,"
    " 'updated_at', updated_at, 'deleted_at', deleted_at)"
)

# The schema of the version before the doc column, verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS brands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    external_id TEXT,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS brands_by_update ON brands (updated_at, seq);
CREATE UNIQUE INDEX IF NOT EXISTS brands_live_name
    ON brands (name_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS brands_live_external_id
    ON brands (external_id) WHERE deleted_at IS NULL AND external_id IS NOT NULL;
"""

OLD_ROWS = [
    (1, "Acme", "acme", None, "2026-01-01T00:00:00.000001Z", None),
    (2, 'Caf\u00e9 "Quoted"', 'caf\u00e9 "quoted"', "ext-2", "2026-01-01T00:00:00.000005Z", None),
    (4, "Gone", "gone", "ext-4", "2026-01-01T00:00:00.000003Z", "2026-01-01T00:00:00.000003Z"),
    (
        7,
        "tab\there \u6771\u4eac",
        "tab\there \u6771\u4eac",
        None,
        "2026-01-01T00:00:00.000004Z",
        None,
    ),
]
OLD_HIGH_WATER = 9  # ids up to 9 were handed out; 8 and 9 are gone

names = st.text(st.characters(codec="utf-8"), max_size=40)


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` answers in the store file at ``path``, read over a connection of its own."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def stored_and_reference(path: Path) -> list[tuple[Any, ...]]:
    """``(doc, the same brand rendered by the old expression)`` for every row."""
    return query(path, f"SELECT doc, {RENDERED_AT_READ} FROM brands ORDER BY seq")


def stored_docs_match_the_old_rendering(store: BrandStore) -> bool:
    rows = store._conn.execute(f"SELECT doc, {RENDERED_AT_READ} FROM brands").fetchall()
    return all(doc == reference for doc, reference in rows)


@settings(max_examples=200, deadline=None)
@given(first=names, second=names, external_id=st.one_of(st.none(), names))
def test_the_stored_json_is_the_text_rendered_at_read_before(
    first: str, second: str, external_id: str | None
) -> None:
    store = BrandStore()
    try:
        created = store.create(first, external_id)
        assert stored_docs_match_the_old_rendering(store)
        store.update(created[0], BrandChanges(name=second, external_id=None, set_external_id=True))
        assert stored_docs_match_the_old_rendering(store)
        store.delete(created[0])
        assert stored_docs_match_the_old_rendering(store)
        [listed] = store.list_page(START, 10, include_deleted=True)
        assert json.loads(listed) == brand_json(store.get(created[0]))
    finally:
        store.close()


def test_seeded_brands_have_their_json_stored() -> None:
    store = BrandStore()
    store.seed(50, 'Se"ed')
    docs = store.list_page(START, 100)
    assert len(docs) == 50
    assert stored_docs_match_the_old_rendering(store)
    assert json.loads(docs[0])["name"] == 'Se"ed 1'
    store.close()


def make_old_store(path: Path) -> list[str]:
    """A store file as the previous version left it; return its rows as that version listed them."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(OLD_SCHEMA)
        conn.executemany("INSERT INTO brands VALUES (?, ?, ?, ?, ?, ?)", OLD_ROWS)
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'brands'", (OLD_HIGH_WATER,))
    return old_listing(path)


def old_listing(path: Path) -> list[str]:
    """Every brand as the previous version listed it, in list order."""
    rows = query(path, f"SELECT {RENDERED_AT_READ} FROM brands ORDER BY updated_at, seq")
    return [text for (text,) in rows]


def test_a_store_file_without_stored_json_is_upgraded_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    listed_before = make_old_store(path)

    store = BrandStore(str(path))
    assert store.list_page(START, 10, include_deleted=True) == listed_before
    assert store.get("brd_000000000007")[1] == "tab\there \u6771\u4eac"
    assert store.create("New", None)[0] == f"brd_{OLD_HIGH_WATER + 1:012d}"
    with pytest.raises(BrandConflict):
        store.create("ACME", None)
    with pytest.raises(BrandConflict):
        store.create("Other", "ext-2")
    store.close()

    tables = {name for (name,) in query(path, "SELECT name FROM sqlite_master")}
    plan = query(path, "EXPLAIN QUERY PLAN SELECT doc FROM brands ORDER BY updated_at, seq")
    assert tables == {
        "brands",
        "sqlite_sequence",
        "brands_by_update",
        "brands_live_name",
        "brands_live_external_id",
    }
    assert "brands_by_update" in str(plan)
    assert all(doc == reference for doc, reference in stored_and_reference(path))


def test_an_upgraded_store_opens_again_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    make_old_store(path)
    BrandStore(str(path)).close()
    first = stored_and_reference(path)

    store = BrandStore(str(path))
    assert len(store.list_page(START, 10, include_deleted=True)) == len(OLD_ROWS)
    store.close()
    assert stored_and_reference(path) == first


def test_an_upgrade_that_fails_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    listed_before = make_old_store(path)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE brands_upgrade (x)")  # makes the upgrade fail midway

    with pytest.raises(sqlite3.OperationalError, match="brands_upgrade"):
        BrandStore(str(path))

    columns = [row[1] for row in query(path, "PRAGMA table_xinfo(brands)")]
    assert "doc" not in columns
    assert old_listing(path) == listed_before
    assert query(path, "SELECT seq FROM sqlite_sequence WHERE name = 'brands'") == [
        (OLD_HIGH_WATER,)
    ]


def test_an_empty_store_file_of_the_old_schema_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(OLD_SCHEMA)
    store = BrandStore(str(path))
    assert store.list_page(START, 10) == []
    assert store.create("First", None)[0] == "brd_000000000001"
    store.close()
    assert [row[1] for row in query(path, "PRAGMA table_xinfo(brands)")][-1] == "doc"
