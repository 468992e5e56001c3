"""Switchable faults, each observed the way a client of the service would observe it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest
from brand_system_helpers import make, statuses, walk

from reference_brand_system import FaultConfig, serve_in_thread


def set_faults(client: httpx.Client, **faults: Any) -> None:
    response = client.put("/_admin/faults", json=faults)
    assert response.status_code == 200, response.text


def test_faults_are_off_by_default_and_replaced_as_a_whole(client: httpx.Client) -> None:
    defaults = client.get("/_admin/faults").json()
    assert defaults == FaultConfig().as_dict()

    set_faults(client, error_rate=0.25, seed=9)
    assert client.get("/_admin/faults").json() == {**defaults, "error_rate": 0.25, "seed": 9}
    set_faults(client, latency_ms=5)
    assert client.get("/_admin/faults").json() == {**defaults, "latency_ms": 5.0}


@pytest.mark.parametrize(
    ("faults", "field"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"drop_rate": -0.1}, "drop_rate"),
        ({"bad_records": "lots"}, "bad_records"),
        ({"rate_limit_every": 2.5}, "rate_limit_every"),
        ({"retry_after": True}, "retry_after"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"explode": 1}, "explode"),
    ],
)
def test_invalid_fault_settings_get_422(
    client: httpx.Client, faults: dict[str, Any], field: str
) -> None:
    response = client.put("/_admin/faults", json=faults)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_error_rate_answers_a_share_of_requests_with_500_or_503(client: httpx.Client) -> None:
    set_faults(client, error_rate=0.5, seed=1)
    seen = Counter(statuses(client, 200))
    assert set(seen) == {200, 500, 503}
    assert 60 <= seen[500] + seen[503] <= 140

    failed = client.get("/brands/brd_000000000001")
    while failed.status_code not in {500, 503}:
        failed = client.get("/brands/brd_000000000001")
    assert "message" in failed.json()


def test_the_same_seed_gives_the_same_faults(client: httpx.Client) -> None:
    set_faults(client, error_rate=0.3, seed=42)
    first = statuses(client, 50)
    set_faults(client, error_rate=0.3, seed=42)
    assert statuses(client, 50) == first


def test_every_nth_request_is_rate_limited_with_retry_after(client: httpx.Client) -> None:
    set_faults(client, rate_limit_every=3, retry_after=7)
    assert statuses(client, 9) == [200, 200, 429] * 3

    for _ in range(2):
        client.get("/brands")
    limited = client.get("/brands")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert "rate limit" in limited.json()["message"]


def test_latency_makes_answers_slow(client: httpx.Client) -> None:
    set_faults(client, latency_ms=600)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/brands", timeout=0.1)
    assert client.get("/_admin/faults", timeout=5).status_code == 200


def test_a_dropped_connection_is_a_protocol_error_and_nothing_happens(
    client: httpx.Client,
) -> None:
    set_faults(client, drop_rate=1.0)
    for attempt in range(10):
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/brands")
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/brands", json={"name": f"Never stored {attempt}"})
    assert client.get("/_admin/stats").json()["total"] == 0


def test_truncated_list_bodies_are_not_valid_json(client: httpx.Client) -> None:
    brand = make(client, "Whole")
    client.post("/_admin/seed", json={"count": 20})
    set_faults(client, truncate_rate=1.0)

    response = client.get("/brands")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert client.get(f"/brands/{brand['id']}").json() == brand


def kind_of(record: dict[str, Any], existing_ids: set[str]) -> str:
    name = record.get("name", ...)
    if name is ...:
        return "missing_name"
    if not isinstance(name, str):
        return "numeric_name"
    if name == "":
        return "empty_name"
    if len(name) > 255:
        return "long_name"
    if record["external_id"] is not None and record["external_id"] not in existing_ids:
        return "dangling_external_id"
    return "good"


def test_bad_records_spoil_a_share_of_list_records(client: httpx.Client) -> None:
    client.post("/_admin/seed", json={"count": 400})
    set_faults(client, bad_records=0.4, seed=3)
    records = client.get("/brands", params={"limit": 400}).json()["brands"]
    existing_ids = {record["id"] for record in records}

    kinds = Counter(kind_of(record, existing_ids) for record in records)
    assert set(kinds) == {
        "good",
        "missing_name",
        "empty_name",
        "long_name",
        "numeric_name",
        "dangling_external_id",
    }
    assert 100 <= len(records) - kinds["good"] <= 220
    assert all(isinstance(record["id"], str) for record in records)


def test_a_walk_through_spoiled_records_still_serves_every_brand_once(
    client: httpx.Client,
) -> None:
    client.post("/_admin/seed", json={"count": 95})
    set_faults(client, bad_records=1.0, seed=5)
    ids = [record["id"] for records, _ in walk(client, limit=10) for record in records]
    assert len(ids) == len(set(ids)) == 95


def test_admin_endpoints_never_see_faults(client: httpx.Client) -> None:
    set_faults(client, error_rate=1.0, rate_limit_every=1, drop_rate=1.0, latency_ms=5000)
    for _ in range(5):
        assert client.get("/_admin/stats", timeout=2).status_code == 200
    assert client.post("/_admin/seed", json={"count": 3}, timeout=2).status_code == 201
    assert client.put("/_admin/faults", json={}, timeout=2).status_code == 200
    assert client.get("/brands").status_code == 200


def test_unauthenticated_requests_are_refused_before_faults() -> None:
    with serve_in_thread(api_key="k", faults=FaultConfig(error_rate=1.0)) as server:
        assert httpx.get(f"{server.base_url}/brands").status_code == 401
        response = httpx.get(f"{server.base_url}/brands", headers=server.headers)
        assert response.status_code in {500, 503}


def test_faults_can_be_switched_on_at_start() -> None:
    with (
        serve_in_thread(api_key="k", faults=FaultConfig(rate_limit_every=2)) as server,
        httpx.Client(base_url=server.base_url, headers=server.headers) as http,
    ):
        assert statuses(http, 4) == [200, 429, 200, 429]
