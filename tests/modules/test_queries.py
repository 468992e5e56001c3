"""Filters, pagination, ordering and selection of ``list_<plural>``, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from loomwork.errors import ValidationError
from loomwork.modules._filters import LARGE_IN_LIST

from .fixtures.brand import BrandModuleService

NAMES = ["alpha", "Beta", "gamma", "delta", "epsilon"]


@pytest.fixture
async def brands(service: BrandModuleService) -> dict[str, dict[str, Any]]:
    rows = await service.create_brands(
        [
            {"name": name, "rank": rank, "external_id": None if rank % 2 else f"ext-{rank}"}
            for rank, name in enumerate(NAMES)
        ]
    )
    return {row["name"]: row for row in rows}


FILTER_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({}, NAMES),
    ({"name": "gamma"}, ["gamma"]),
    ({"name": ["alpha", "delta", "nope"]}, ["alpha", "delta"]),
    ({"name": []}, []),
    ({"name": {"$in": []}}, []),
    ({"name": {"$nin": []}}, NAMES),
    ({"name": {"$nin": ["alpha", "Beta"]}}, ["gamma", "delta", "epsilon"]),
    ({"external_id": None}, ["Beta", "delta"]),
    ({"external_id": {"$ne": None}}, ["alpha", "gamma", "epsilon"]),
    ({"external_id": {"$eq": None}}, ["Beta", "delta"]),
    ({"rank": {"$gt": 1, "$lte": 3}}, ["gamma", "delta"]),
    ({"rank": {"$gte": 3}}, ["delta", "epsilon"]),
    ({"rank": {"$lt": 1}}, ["alpha"]),
    ({"rank": {"$ne": 0}}, ["Beta", "gamma", "delta", "epsilon"]),
    ({"name": {"$like": "%lta"}}, ["delta"]),
    ({"name": {"$like": "b%"}}, []),
    ({"name": {"$ilike": "b%"}}, ["Beta"]),
    ({"name": {"$ilike": "%L%A"}}, ["alpha", "delta"]),
    ({"name": {"$like": "_amma"}}, ["gamma"]),
    ({"name": {"$like": "*"}}, []),
    ({"$or": [{"rank": 0}, {"name": "epsilon"}]}, ["alpha", "epsilon"]),
    ({"$or": []}, []),
    ({"$and": []}, NAMES),
    (
        {"$or": [{"$and": [{"rank": {"$gt": 0}}, {"external_id": None}]}, {"name": "gamma"}]},
        ["Beta", "gamma", "delta"],
    ),
    ({"rank": {"$lt": 4}, "$or": [{"name": "alpha"}, {"name": "epsilon"}]}, ["alpha"]),
]


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES)
async def test_filters(
    service: BrandModuleService,
    brands: dict[str, dict[str, Any]],
    filters: dict[str, Any],
    expected: list[str],
) -> None:
    rows, count = await service.list_and_count_brands(filters)
    assert [row["name"] for row in rows] == expected
    assert count == len(expected)


async def test_id_lists_large_and_small(
    service: BrandModuleService, brands: dict[str, dict[str, Any]]
) -> None:
    wanted = [brands["alpha"]["id"], brands["delta"]["id"]]
    padding = [f"brand_missing_{i}" for i in range(LARGE_IN_LIST * 3)]
    for ids in (wanted, wanted + padding, padding + wanted):
        assert [r["name"] for r in await service.list_brands({"id": ids})] == ["alpha", "delta"]
    excluded = await service.list_brands({"id": {"$nin": padding + wanted}})
    assert [r["name"] for r in excluded] == ["Beta", "gamma", "epsilon"]


async def test_pagination_and_order(
    service: BrandModuleService, brands: dict[str, dict[str, Any]]
) -> None:
    desc = await service.list_brands(order={"rank": "DESC"}, select=["name"])
    assert [r["name"] for r in desc] == list(reversed(NAMES))
    page, count = await service.list_and_count_brands(skip=1, take=2, order={"rank": "asc"})
    assert [r["name"] for r in page] == ["Beta", "gamma"]
    assert count == 5
    assert await service.list_brands(skip=10) == []
    assert await service.list_brands(take=0) == []
    by_null = await service.list_brands(order={"external_id": "asc", "rank": "desc"})
    assert [r["name"] for r in by_null] == ["alpha", "gamma", "epsilon", "delta", "Beta"]
    nulls_first = await service.list_brands(order={"external_id": "desc"}, take=2)
    assert [r["name"] for r in nulls_first] == ["Beta", "delta"]


async def test_order_ties_break_on_id(service: BrandModuleService) -> None:
    rows = await service.create_brands([{"name": f"n{i}", "rank": 1} for i in range(6)])
    pages = [await service.list_brands(order={"rank": "asc"}, skip=s, take=2) for s in (0, 2, 4)]
    assert [r["id"] for page in pages for r in page] == [r["id"] for r in rows]


async def test_select_returns_only_named_fields(
    service: BrandModuleService, brands: dict[str, dict[str, Any]]
) -> None:
    rows = await service.list_brands({"name": "alpha"}, select=["name", "created_at"])
    assert rows == [{"name": "alpha", "created_at": brands["alpha"]["created_at"]}]


async def test_filters_on_datetimes_accept_iso_text(
    service: BrandModuleService, brands: dict[str, dict[str, Any]]
) -> None:
    cutoff = brands["alpha"]["created_at"]
    assert len(await service.list_brands({"created_at": {"$lte": cutoff}})) == 5
    assert await service.list_brands({"created_at": {"$gt": cutoff}}) == []


INJECTIONS: list[dict[str, Any]] = [
    {"filters": {"name; DROP TABLE fixture_brand; --": "x"}},
    {"filters": {"name": {"$or 1=1": "x"}}},
    {"filters": {"name": {"$in": "not a list"}}},
    {"filters": {"rank": {"$gt": None}}},
    {"filters": {"$or": {"name": "x"}}},
    {"filters": {"$where": "1=1"}},
    {"filters": ["name"]},
    {"order": {"name DESC, (SELECT 1)": "asc"}},
    {"order": {"name": "asc; DROP TABLE fixture_brand"}},
    {"order": {"name": 1}},
    {"select": ["name", "id FROM fixture_brand --"]},
    {"select": "name"},
    {"skip": -1},
    {"take": "10"},
]


@pytest.mark.parametrize("arguments", INJECTIONS)
async def test_bad_fields_and_operators_are_rejected(
    service: BrandModuleService,
    brands: dict[str, dict[str, Any]],
    arguments: dict[str, Any],
) -> None:
    arguments = dict(arguments)
    filters = arguments.pop("filters", None)
    with pytest.raises(ValidationError) as caught:
        await service.list_brands(filters, **arguments)
    assert caught.value.record == "Brand"
    assert "Brand" in str(caught.value)
    assert len(await service.list_brands()) == 5


async def test_injection_in_update_selector_and_values_is_rejected(
    service: BrandModuleService, brands: dict[str, dict[str, Any]]
) -> None:
    with pytest.raises(ValidationError, match="no field"):
        await service.update_brands(selector={"1=1 OR name": "x"}, data={"rank": 1})
    with pytest.raises(ValidationError, match="no field"):
        await service.update_brands(selector={"name": "alpha"}, data={"rank = 0, name": "x"})
    hostile = "x'); DELETE FROM fixture_brand; --"
    renamed = await service.update_brands(selector={"name": "alpha"}, data={"name": hostile})
    assert renamed[0]["name"] == hostile
    assert len(await service.list_brands({"name": {"$like": "%DELETE%"}})) == 1
    assert len(await service.list_brands()) == 5
