"""The brand API over real HTTP: auth, CRUD, validation and conflicts."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from brand_system_helpers import make


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "secret-key", "Basic c2VjcmV0LWtleQ=="]
)
def test_requests_without_the_api_key_get_401(
    client: httpx.Client, authorization: str | None
) -> None:
    for method, path in [("GET", "/brands"), ("POST", "/_admin/reset")]:
        request = client.build_request(method, path)
        del request.headers["Authorization"]
        if authorization is not None:
            request.headers["Authorization"] = authorization
        response = client.send(request)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "API key" in response.json()["message"]


def test_create_then_get_returns_the_brand(client: httpx.Client) -> None:
    created = make(client, "Acme", external_id="store-1")
    assert created["id"].startswith("brd_")
    assert created["name"] == "Acme"
    assert created["external_id"] == "store-1"
    assert created["deleted_at"] is None
    assert created["updated_at"].endswith("Z")
    assert datetime.fromisoformat(created["updated_at"]).microsecond is not None

    fetched = client.get(f"/brands/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_external_id_is_optional_and_null_by_default(client: httpx.Client) -> None:
    response = client.post("/brands", json={"name": "Plain"})
    assert response.status_code == 201
    assert response.json()["external_id"] is None


def test_patch_changes_fields_and_moves_updated_at_forward(client: httpx.Client) -> None:
    brand = make(client, "Old name")
    renamed = client.patch(f"/brands/{brand['id']}", json={"name": "New name"}).json()
    assert renamed["name"] == "New name"
    assert renamed["updated_at"] > brand["updated_at"]

    linked = client.patch(f"/brands/{brand['id']}", json={"external_id": "s-9"}).json()
    assert (linked["name"], linked["external_id"]) == ("New name", "s-9")
    assert linked["updated_at"] > renamed["updated_at"]

    unlinked = client.patch(f"/brands/{brand['id']}", json={"external_id": None}).json()
    assert unlinked["external_id"] is None


def test_patch_that_changes_nothing_keeps_updated_at(client: httpx.Client) -> None:
    brand = make(client, "Same", external_id="s-1")
    again = client.patch(f"/brands/{brand['id']}", json={"name": "Same", "external_id": "s-1"})
    assert again.status_code == 200
    assert again.json() == brand


def test_delete_is_soft_and_repeatable(client: httpx.Client) -> None:
    brand = make(client, "Doomed")
    assert client.delete(f"/brands/{brand['id']}").status_code == 204

    gone = client.get(f"/brands/{brand['id']}").json()
    assert gone["deleted_at"] is not None
    assert gone["updated_at"] == gone["deleted_at"]
    assert gone["updated_at"] > brand["updated_at"]

    assert client.delete(f"/brands/{brand['id']}").status_code == 204
    assert client.get(f"/brands/{brand['id']}").json() == gone


def test_a_deleted_brand_cannot_be_patched(client: httpx.Client) -> None:
    brand = make(client, "Doomed")
    client.delete(f"/brands/{brand['id']}")
    response = client.patch(f"/brands/{brand['id']}", json={"name": "Back"})
    assert response.status_code == 404
    assert "deleted" in response.json()["message"]


@pytest.mark.parametrize("brand_id", ["brd_000000999999", "nope", "brd_1"])
def test_unknown_ids_get_404(client: httpx.Client, brand_id: str) -> None:
    assert client.get(f"/brands/{brand_id}").status_code == 404
    assert client.patch(f"/brands/{brand_id}", json={"name": "x"}).status_code == 404
    response = client.delete(f"/brands/{brand_id}")
    assert response.status_code == 404
    assert brand_id in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": 42}, "name"),
        ({"name": None}, "name"),
        ({"name": "ok", "external_id": 7}, "external_id"),
        ({"name": "ok", "external_id": ""}, "external_id"),
        ({"name": "ok", "colour": "red"}, "colour"),
        (["name"], "body"),
    ],
)
def test_invalid_create_bodies_get_422_naming_the_field(
    client: httpx.Client, body: object, field: str
) -> None:
    response = client.post("/brands", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.json()["message"]


def test_a_255_character_name_is_accepted(client: httpx.Client) -> None:
    assert make(client, "n" * 255)["name"] == "n" * 255


def test_a_body_that_is_not_json_gets_422(client: httpx.Client) -> None:
    response = client.post("/brands", content=b"{not json")
    assert response.status_code == 422
    assert response.json()["field"] == "body"


def test_invalid_patch_bodies_get_422(client: httpx.Client) -> None:
    brand = make(client, "Valid")
    response = client.patch(f"/brands/{brand['id']}", json={"name": "y" * 300})
    assert (response.status_code, response.json()["field"]) == (422, "name")


def test_names_are_unique_case_insensitively_among_live_brands(client: httpx.Client) -> None:
    first = make(client, "Nordwind")
    clash = client.post("/brands", json={"name": "NORDWIND"})
    assert clash.status_code == 409
    assert clash.json()["field"] == "name"
    assert first["id"] in clash.json()["message"]

    other = make(client, "Other")
    rename = client.patch(f"/brands/{other['id']}", json={"name": "nordwind"})
    assert rename.status_code == 409

    client.delete(f"/brands/{first['id']}")
    assert make(client, "Nordwind")["id"] != first["id"]


def test_recasing_a_brands_own_name_is_not_a_conflict(client: httpx.Client) -> None:
    brand = make(client, "lowercase")
    response = client.patch(f"/brands/{brand['id']}", json={"name": "LowerCase"})
    assert response.status_code == 200


def test_an_external_id_links_to_one_live_brand_only(client: httpx.Client) -> None:
    first = make(client, "First", external_id="store-7")
    clash = client.post("/brands", json={"name": "Second", "external_id": "store-7"})
    assert (clash.status_code, clash.json()["field"]) == (409, "external_id")

    second = make(client, "Second")
    relink = client.patch(f"/brands/{second['id']}", json={"external_id": "store-7"})
    assert relink.status_code == 409

    client.delete(f"/brands/{first['id']}")
    relinked = client.patch(f"/brands/{second['id']}", json={"external_id": "store-7"})
    assert relinked.status_code == 200


def test_unknown_routes_answer_json(client: httpx.Client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
