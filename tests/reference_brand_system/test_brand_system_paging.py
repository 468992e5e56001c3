"""Listing brands: keyset cursors, changes during a walk, updated_since, include_deleted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from brand_system_helpers import all_ids, make, walk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_brand_system import RunningServer, serve_in_thread


def seed(client: httpx.Client, count: int, prefix: str = "Brand") -> None:
    response = client.post("/_admin/seed", json={"count": count, "prefix": prefix})
    assert response.status_code == 201, response.text


def in_order(brands: list[dict[str, Any]]) -> bool:
    keys = [(brand["updated_at"], brand["id"]) for brand in brands]
    return keys == sorted(keys) and len(set(keys)) == len(keys)


def test_a_walk_returns_every_brand_once_in_order(client: httpx.Client) -> None:
    seed(client, 50)
    pages = list(walk(client, limit=7))
    brands = [brand for page, _ in pages for brand in page]

    assert len(pages) == 8
    assert [len(page) for page, _ in pages] == [7] * 7 + [1]
    assert len({brand["id"] for brand in brands}) == 50
    assert in_order(brands)
    assert pages[-1][1] is None


def test_listed_brands_equal_the_brands_read_one_by_one(client: httpx.Client) -> None:
    names = ['Caf\u00e9 "Quoted"', "back\\slash", "\u6771\u4eac \U0001f600", "tab\there", "x" * 255]
    made = [make(client, name, external_id=f"s-{n}") for n, name in enumerate(names)]
    client.delete(f"/brands/{made[0]['id']}")
    listed = client.get("/brands", params={"include_deleted": "true"}).json()["brands"]
    assert listed == sorted(
        (client.get(f"/brands/{brand['id']}").json() for brand in made),
        key=lambda brand: (brand["updated_at"], brand["id"]),
    )
    assert [brand["name"] for brand in listed[:-1]] == names[1:]


def test_no_two_brands_share_an_updated_at_even_when_seeded(client: httpx.Client) -> None:
    seed(client, 500)
    make(client, "After the seed")
    brands = [brand for page, _ in walk(client, 1000) for brand in page]
    stamps = [brand["updated_at"] for brand in brands]
    assert len(set(stamps)) == len(stamps) == 501
    assert stamps == sorted(stamps)
    # So resuming from the newest stamp seen serves that one row again, nothing more.
    assert all_ids(client, updated_since=stamps[-1]) == [brands[-1]["id"]]


def test_the_default_page_holds_100_brands(client: httpx.Client) -> None:
    seed(client, 150)
    page = client.get("/brands").json()
    assert len(page["brands"]) == 100
    assert page["next_cursor"] is not None


def test_an_exactly_full_last_page_has_no_next_cursor(client: httpx.Client) -> None:
    seed(client, 10)
    pages = list(walk(client, limit=5))
    assert [len(page) for page, _ in pages] == [5, 5]


def test_an_empty_store_lists_nothing(client: httpx.Client) -> None:
    assert client.get("/brands").json() == {"brands": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4IiwgMV0"}, "cursor"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"include_deleted": "maybe"}, "include_deleted"),
    ],
)
def test_bad_list_parameters_get_422_naming_them(
    client: httpx.Client, params: dict[str, Any], field: str
) -> None:
    response = client.get("/brands", params=params)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_changes_during_a_walk_skip_nothing_and_moved_rows_reappear(
    client: httpx.Client,
) -> None:
    seed(client, 60)
    pages = walk(client, limit=10)
    first_page, _ = next(pages)
    seen_early = first_page[0]["id"]
    original = all_ids(client)
    not_yet_seen, doomed = original[30], original[40]

    client.patch(f"/brands/{seen_early}", json={"name": "Renamed early"})
    client.patch(f"/brands/{not_yet_seen}", json={"name": "Renamed later"})
    client.delete(f"/brands/{doomed}")
    newcomer = make(client, "Newcomer")["id"]

    served = [brand["id"] for brand in first_page]
    served += [brand["id"] for page, _ in pages for brand in page]
    counts = Counter(served)

    assert set(original) - {doomed} <= set(served), "a row that stayed live was skipped"
    assert counts[seen_early] == 2, "an updated row moves to the end and is served again"
    assert counts[not_yet_seen] == 1
    assert doomed not in counts
    assert served[-3:] == [seen_early, not_yet_seen, newcomer]


def test_updated_since_is_inclusive(client: httpx.Client) -> None:
    first, second, third = (make(client, name) for name in ("One", "Two", "Three"))
    ids = all_ids(client, updated_since=second["updated_at"])
    assert ids == [second["id"], third["id"]]
    assert first["id"] not in ids


@pytest.mark.parametrize("offset", [timedelta(hours=2), timedelta(hours=-5, minutes=-30)])
def test_updated_since_accepts_any_utc_offset(client: httpx.Client, offset: timedelta) -> None:
    make(client, "One")
    second = make(client, "Two")
    stamp = datetime.fromisoformat(second["updated_at"])
    elsewhere = stamp.astimezone(timezone(offset))
    assert all_ids(client, updated_since=elsewhere.isoformat()) == [second["id"]]
    later = elsewhere + timedelta(microseconds=1)
    assert all_ids(client, updated_since=later.isoformat()) == []


def test_updated_since_combines_with_a_cursor(client: httpx.Client) -> None:
    make(client, "Before")
    marker = make(client, "Marker")
    for n in range(5):
        make(client, f"After {n}")
    pages = list(walk(client, limit=2, updated_since=marker["updated_at"]))
    assert [len(page) for page, _ in pages] == [2, 2, 2]
    assert pages[0][0][0]["id"] == marker["id"]


def test_deleted_brands_are_listed_only_when_asked_for(client: httpx.Client) -> None:
    keep, drop = make(client, "Keep"), make(client, "Drop")
    before_delete = client.get(f"/brands/{drop['id']}").json()["updated_at"]
    client.delete(f"/brands/{drop['id']}")

    assert all_ids(client) == [keep["id"]]
    assert all_ids(client, include_deleted="false") == [keep["id"]]
    listed = client.get("/brands", params={"include_deleted": "true"}).json()["brands"]
    assert [brand["id"] for brand in listed] == [keep["id"], drop["id"]]
    assert listed[1]["deleted_at"] is not None

    since = client.get(
        "/brands", params={"updated_since": before_delete, "include_deleted": "true"}
    ).json()["brands"]
    assert [(brand["id"], brand["deleted_at"] is not None) for brand in since] == [
        (drop["id"], True)
    ]


@pytest.fixture(scope="module")
def frozen_client() -> Iterator[httpx.Client]:
    """A client of a service whose data does not change: ties, updates, deletions mixed."""
    with (
        serve_in_thread(api_key="k", seed=230) as running,
        httpx.Client(base_url=running.base_url, headers=running.headers) as http,
    ):
        for n in range(20):
            make(http, f"Single {n}")
        ids = all_ids(http)
        for brand_id in ids[5:200:13]:
            http.patch(f"/brands/{brand_id}", json={"external_id": f"store-{brand_id}"})
        for brand_id in ids[3:240:24]:
            http.delete(f"/brands/{brand_id}")
        yield http


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=st.one_of(st.integers(1, 40), st.integers(41, 1000)), deleted=st.booleans())
def test_any_page_size_returns_every_row_exactly_once(
    frozen_client: httpx.Client, limit: int, deleted: bool
) -> None:
    expected_all, expected_live = 250, 240
    brands = [
        brand
        for page, _ in walk(frozen_client, limit, include_deleted=str(deleted).lower())
        for brand in page
    ]
    assert len(brands) == (expected_all if deleted else expected_live)
    assert len({brand["id"] for brand in brands}) == len(brands)
    assert in_order(brands)
    assert deleted or all(brand["deleted_at"] is None for brand in brands)


async def test_an_async_client_walks_the_pages(server: RunningServer) -> None:
    server.store.seed(25, "Async")
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers) as http:
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 10}
        while True:
            page = (await http.get("/brands", params=params)).json()
            seen += [brand["id"] for brand in page["brands"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 25
