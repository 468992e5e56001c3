"""The pure diff core: decision tables and Hypothesis properties of ``plan_sync``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import brand, pull
from .project import load

SystemBrand = brand.SystemBrand
StoreBrand = pull.StoreBrand
plan_sync = pull.plan_sync
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def system(
    sid: str, name: str, t: float, *, external_id: str | None = None, deleted: bool = False
) -> Any:
    return SystemBrand(
        id=sid,
        name=name,
        external_id=external_id,
        updated_at=at(t),
        deleted_at=at(t) if deleted else None,
    )


def store(
    bid: str,
    name: str,
    *,
    external_id: str | None,
    synced: str | None = None,
    seen: float | None = None,
    edited: float = 0,
    deleted: bool = False,
) -> Any:
    return StoreBrand(
        id=bid,
        name=name,
        external_id=external_id,
        synced_name=name if synced is None else synced,
        system_updated_at=at(seen) if seen is not None else None,
        updated_at=at(edited),
        deleted_at=at(edited) if deleted else None,
    )


def buckets(plan: Any) -> dict[str, Any]:
    return {
        "create": [item["external_id"] for item in plan.to_create],
        "update": [item["id"] for item in plan.to_update],
        "delete": plan.to_delete,
        "unchanged": plan.unchanged,
        "quarantined": [(bad.record_id, bad.field) for bad in plan.quarantined],
    }


EMPTY: dict[str, Any] = {
    "create": [],
    "update": [],
    "delete": [],
    "unchanged": [],
    "quarantined": [],
}

CASES = [
    ("new brand is created", [system("s1", "A", 5)], [], {"create": ["s1"]}),
    (
        "same name is unchanged",
        [system("s1", "A", 5)],
        [store("b1", "A", external_id="s1", seen=1)],
        {"unchanged": ["s1"]},
    ),
    (
        "a version already seen is unchanged (echo of our push)",
        [system("s1", "B", 5)],
        [store("b1", "A", external_id="s1", seen=5)],
        {"unchanged": ["s1"]},
    ),
    (
        "a newer system name updates",
        [system("s1", "B", 5)],
        [store("b1", "A", external_id="s1", seen=1, edited=2)],
        {"update": ["b1"]},
    ),
    (
        "a later local edit wins the conflict",
        [system("s1", "B", 5)],
        [store("b1", "Local", external_id="s1", synced="A", seen=1, edited=9)],
        {"unchanged": ["s1"]},
    ),
    (
        "a later system edit wins the conflict",
        [system("s1", "B", 9)],
        [store("b1", "Local", external_id="s1", synced="A", seen=1, edited=5)],
        {"update": ["b1"]},
    ),
    (
        "a system delete soft-deletes",
        [system("s1", "A", 5, deleted=True)],
        [store("b1", "A", external_id="s1", seen=1)],
        {"delete": ["b1"]},
    ),
    (
        "a delete of a brand the store never had does nothing",
        [system("s1", "A", 5, deleted=True)],
        [],
        {"unchanged": ["s1"]},
    ),
    (
        "a brand deleted locally stays deleted",
        [system("s1", "B", 5)],
        [store("b1", "A", external_id="s1", seen=1, deleted=True, edited=3)],
        {"unchanged": ["s1"]},
    ),
    (
        "a pushed brand without write-back is linked, not duplicated",
        [system("s1", "A", 5, external_id="b1")],
        [store("b1", "A", external_id=None)],
        {"update": ["b1"]},
    ),
    (
        "an external_id pointing at nothing is quarantined",
        [system("s1", "A", 5, external_id="brand_missing")],
        [],
        {"quarantined": [("s1", "external_id")]},
    ),
    (
        "a name held by another store brand is quarantined",
        [system("s1", "A", 5)],
        [store("b9", "A", external_id=None)],
        {"quarantined": [("s1", "name")]},
    ),
    (
        "two new records with one name: the second is quarantined",
        [system("s1", "A", 5), system("s2", "A", 6)],
        [],
        {"create": ["s1"], "quarantined": [("s2", "name")]},
    ),
    (
        "a name freed by a delete in the same page can be reused",
        [system("s1", "A", 5, deleted=True), system("s2", "A", 6)],
        [store("b1", "A", external_id="s1", seen=1)],
        {"delete": ["b1"], "create": ["s2"]},
    ),
    (
        "a name freed by a rename can be taken by a new brand",
        [system("s1", "B", 5), system("s2", "A", 6)],
        [store("b1", "A", external_id="s1", seen=1)],
        {"update": ["b1"], "create": ["s2"]},
    ),
    (
        "a name freed by a rename cannot be taken by another rename",
        [system("s1", "B", 5), system("s2", "A", 6)],
        [store("b1", "A", external_id="s1", seen=1), store("b2", "C", external_id="s2", seen=1)],
        {"update": ["b1"], "quarantined": [("s2", "name")]},
    ),
]


def test_decision_table() -> None:
    for label, page, rows, expected in CASES:
        assert buckets(plan_sync(page, rows)) == {**EMPTY, **expected}, label


def test_invalid_records_are_quarantined_as_given() -> None:
    bad = brand.BadRecord("s7", "name", "name must not be empty", "{}")
    plan = plan_sync([system("s1", "A", 1)], [], [bad])
    assert plan.quarantined == [bad]
    assert plan.counts() == {
        "created": 1,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "quarantined": 1,
    }


# ---------------------------------------------------------------- properties

names = st.sampled_from(["Acme", "Bolt", "Core", "Dune", "Echo"])


@st.composite
def pages(draw: Any) -> list[Any]:
    ids = draw(st.lists(st.sampled_from([f"s{i}" for i in range(8)]), max_size=10))
    return [
        system(sid, draw(names), draw(st.integers(1, 50)), deleted=draw(st.booleans()))
        for sid in ids
    ]


@st.composite
def stores(draw: Any) -> list[Any]:
    rows = []
    used: set[str] = set()
    for index, sid in enumerate(
        draw(st.lists(st.sampled_from([f"s{i}" for i in range(8)]), unique=True, max_size=6))
    ):
        name = draw(names)
        deleted = draw(st.booleans())
        if not deleted and name in used:
            continue
        if not deleted:
            used.add(name)
        rows.append(
            store(
                f"b{index}",
                name,
                external_id=sid,
                synced=draw(st.sampled_from([None, "Old"])),
                seen=draw(st.one_of(st.none(), st.integers(0, 50))),
                edited=draw(st.integers(0, 50)),
                deleted=deleted,
            )
        )
    return rows


def apply(plan: Any, rows: list[Any]) -> list[Any]:
    """What the store holds after the plan's writes, in the workflow's order."""
    by_id = {row.id: row for row in rows}
    for bid in plan.to_delete:
        by_id[bid] = replace(by_id[bid], deleted_at=at(100))
    for change in plan.to_update:
        row = by_id[change["id"]]
        by_id[row.id] = replace(
            row,
            name=change["name"],
            synced_name=change["synced_name"],
            system_updated_at=datetime.fromisoformat(change["system_updated_at"]),
            external_id=change.get("external_id", row.external_id),
            updated_at=at(100),
        )
    for index, item in enumerate(plan.to_create):
        by_id[f"new{index}"] = StoreBrand(
            id=f"new{index}",
            name=item["name"],
            external_id=item["external_id"],
            synced_name=item["synced_name"],
            system_updated_at=datetime.fromisoformat(item["system_updated_at"]),
            updated_at=at(100),
        )
    return list(by_id.values())


@settings(max_examples=120, deadline=None)
@given(pages(), stores())
def test_every_record_lands_in_exactly_one_bucket(page: list[Any], rows: list[Any]) -> None:
    plan = plan_sync(page, rows)
    distinct = {record.id for record in page}
    decided = (
        [item["external_id"] for item in plan.to_create]
        + plan.unchanged
        + [bad.record_id for bad in plan.quarantined]
    )
    assert len(decided) + len(plan.to_update) + len(plan.to_delete) == len(distinct)


@settings(max_examples=120, deadline=None)
@given(pages(), stores())
def test_applying_a_plan_keeps_links_and_live_names_unique(
    page: list[Any], rows: list[Any]
) -> None:
    after = apply(plan_sync(page, rows), rows)
    links = [row.external_id for row in after if row.external_id]
    live_names = [row.name for row in after if row.deleted_at is None]
    assert len(links) == len(set(links))
    assert len(live_names) == len(set(live_names))


@settings(max_examples=120, deadline=None)
@given(pages(), stores())
def test_planning_the_same_page_again_writes_nothing_new(page: list[Any], rows: list[Any]) -> None:
    first = plan_sync(page, rows)
    after = apply(first, rows)
    again = plan_sync(page, after)
    held_back = {bad.record_id for bad in first.quarantined}
    rewritten = [item["external_id"] for item in again.to_create] + [
        row.external_id for row in after if row.id in {c["id"] for c in again.to_update}
    ]
    assert set(rewritten) <= held_back
    assert again.to_delete == []


def raw_record(record: Any) -> dict[str, Any]:
    """A system record as the list API sends it (UTC with microseconds, ``Z``)."""

    def text(moment: datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")

    return {
        "id": record.id,
        "name": record.name,
        "external_id": record.external_id,
        "updated_at": text(record.updated_at),
        "deleted_at": text(record.deleted_at),
    }


def store_row(row: Any) -> dict[str, Any]:
    """A store brand as the brand service lists it (fixed-width UTC text)."""

    def text(moment: datetime | None) -> str | None:
        return moment.isoformat(timespec="microseconds") if moment is not None else None

    return {
        "id": row.id,
        "name": row.name,
        "external_id": row.external_id,
        "synced_name": row.synced_name,
        "system_updated_at": text(row.system_updated_at),
        "updated_at": text(row.updated_at),
        "deleted_at": text(row.deleted_at),
    }


def normalised(plan: dict[str, Any]) -> dict[str, Any]:
    return {key: sorted(map(repr, values)) for key, values in plan.items()}


@settings(max_examples=200, deadline=None)
@given(pages(), stores())
def test_the_workflow_split_decides_like_plan_sync(page: list[Any], rows: list[Any]) -> None:
    """Setting seen records apart before planning changes no decision, only the cost."""
    split_page = load("workflows.sync_brands_from_system.workflow").split_page
    data = {
        "page": {"brands": [raw_record(record) for record in page], "bad": []},
        "rows": [store_row(row) for row in rows],
    }
    assert normalised(split_page(data)) == normalised(plan_sync(page, rows).as_dict())


def test_split_seen_sets_apart_only_versions_the_store_already_holds() -> None:
    split_seen = load("workflows.sync_brands_from_system.plan").split_seen
    rows = [store_row(store("b1", "Acme", external_id="s1", seen=10))]
    page = [
        raw_record(system("s1", "Acme", 10)),  # the version the store holds
        raw_record(system("s2", "Bolt", 5)),  # not linked
    ]
    newer = raw_record(system("s1", "Acme", 11))
    short = {**raw_record(system("s1", "Acme", 9)), "updated_at": "2026-01-01T00:00:09Z"}

    assert split_seen(page, rows) == ([page[1]], ["s1"])
    assert split_seen([newer], rows) == ([newer], [])
    assert split_seen([short], rows) == ([short], [])  # another text shape: planned
    assert split_seen([page[0], newer], rows) == ([newer], [])


def test_split_new_creates_up_front_only_records_nothing_else_can_concern() -> None:
    split_new = load("workflows.sync_brands_from_system.plan").split_new
    rows = [store_row(store("b1", "Acme", external_id="s1", seen=1))]
    new = raw_record(system("s2", "Bolt", 5))
    others = [
        raw_record(system("s1", "Core", 6)),  # linked to b1
        raw_record(system("s3", "Acme", 7)),  # name held by b1
        raw_record(system("s4", "Dune", 8)),  # name carried twice in the page
        raw_record(system("s5", "Dune", 9)),
        raw_record(system("s6", "Echo", 9, deleted=True)),
        raw_record(system("s7", "Fern", 9, external_id="b9")),
    ]

    rest, creates = split_new([new, *others], rows)

    assert rest == others
    assert creates == [
        {
            "name": "Bolt",
            "external_id": "s2",
            "synced_name": "Bolt",
            "system_updated_at": at(5).isoformat(timespec="microseconds"),
        }
    ]
