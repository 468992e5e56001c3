"""The HTTP app over ASGI: file routes, admin auth, JSON errors, built-in endpoints, OpenAPI."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from loomwork.app import App, close_container
from loomwork.container import Container
from loomwork.errors import ConflictError, NotFoundError, ValidationError
from loomwork.http import RouteFile, create_app
from loomwork.scheduler import Scheduler

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
async def container(project_dir: Path, sqlite_env: dict[str, str]) -> AsyncIterator[Container]:
    opened = await App(project_dir, environ=sqlite_env, log_stream=io.StringIO()).open()
    yield opened
    await close_container(opened)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(container)) as opened:
        yield opened


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "project": "shop"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test-token"}],
)
async def test_admin_paths_need_the_bearer_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in ("/admin/wishlist", "/admin/jobs/runs", "/admin/nothing-here"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json()["type"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_admin_api_is_off_without_a_configured_token(
    project_dir: Path, tmp_path: Path
) -> None:
    env = {
        "LOOMWORK_DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}",
        "LOOMWORK_HTTP_ADMIN_TOKEN": "",
    }
    container = await App(project_dir, environ=env, log_stream=io.StringIO()).open()
    try:
        async with client_for(create_app(container)) as client:
            response = await client.get("/admin/wishlist", headers={"Authorization": "Bearer "})
    finally:
        await close_container(container)
    assert response.status_code == 401
    assert "admin_token" in response.json()["message"]


async def test_file_routes_create_list_retrieve_delete(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/admin/wishlist", json={"customer": "cy", "product": "desk"}, headers=AUTH
    )
    assert created.status_code == 200
    item = created.json()["wishlist_item"]
    listed = await client.get("/admin/wishlist", params={"customer": "cy"}, headers=AUTH)
    assert listed.json()["count"] == 1
    assert listed.json()["wishlist_items"][0]["id"] == item["id"]
    one = await client.get(f"/admin/wishlist/{item['id']}", headers=AUTH)
    assert one.json() == {"wishlist_item": item}
    deleted = await client.delete(f"/admin/wishlist/{item['id']}", headers=AUTH)
    assert deleted.json() == {"deleted": [item["id"]]}
    gone = await client.get(f"/admin/wishlist/{item['id']}", headers=AUTH)
    assert gone.status_code == 404
    assert gone.json()["type"] == "not_found"
    assert item["id"] in gone.json()["message"]


async def test_validation_error_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/wishlist", json={"customer": "cy"}, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {
        "message": "product is required",
        "type": "invalid_data",
        "field": "product",
        "record": "wishlist_item",
    }


async def test_unknown_path_and_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/store/nothing")
    assert (missing.status_code, missing.json()["type"]) == (404, "not_found")
    wrong = await client.put("/admin/wishlist", headers=AUTH)
    assert (wrong.status_code, wrong.json()["type"]) == (405, "not_allowed")


async def _conflict(_request: Request, _container: Any) -> Any:
    raise ConflictError("brand 'b1' is being synced; try again later")


async def _not_found(_request: Request, _container: Any) -> Any:
    raise NotFoundError("brand", "b9")


async def _invalid(_request: Request, _container: Any) -> Any:
    raise ValidationError("name must not be empty", record="brand", field="name")


async def _broken(_request: Request, _container: Any) -> Any:
    raise RuntimeError("secret internals")


async def _echo(request: Request, container: Any) -> Any:
    """Echo the path parameter.

    Shows the container is passed in.
    """
    return {"id": request.path_params["id"], "has_logger": "logger" in container}


@pytest.mark.parametrize(
    ("handler", "status", "kind"),
    [
        (_conflict, 409, "conflict"),
        (_not_found, 404, "not_found"),
        (_invalid, 400, "invalid_data"),
        (_broken, 500, "unexpected_error"),
    ],
)
async def test_errors_map_to_status_and_type(
    container: Container, handler: Any, status: int, kind: str
) -> None:
    routes = [RouteFile("/store/thing", MappingProxyType({"GET": handler}), Path("route.py"))]
    async with client_for(create_app(container, routes)) as client:
        response = await client.get("/store/thing")
    assert response.status_code == status
    body = response.json()
    assert body["type"] == kind
    assert "secret internals" not in body["message"]
    if kind == "invalid_data":
        assert body["field"] == "name"


async def test_built_in_admin_endpoints(client: httpx.AsyncClient, container: Container) -> None:
    await client.post("/admin/wishlist", json={"customer": "di", "product": "cup"}, headers=AUTH)
    scheduler: Scheduler = container.resolve("scheduler")
    await scheduler.trigger("hello")
    executions = (await client.get("/admin/workflows/executions", headers=AUTH)).json()
    assert [(e["workflow"], e["state"]) for e in executions["executions"]] == [
        ("add-to-wishlist", "done")
    ]
    run = executions["executions"][0]
    detail = await client.get(
        f"/admin/workflows/executions/add-to-wishlist/{run['transaction_id']}", headers=AUTH
    )
    assert detail.json()["steps"] == {
        "check-wishlist-room": "done",
        "create-wishlist-item": "done",
    }
    runs = (await client.get("/admin/jobs/runs", params={"job": "hello"}, headers=AUTH)).json()
    assert [(r["job"], r["outcome"], r["manual"]) for r in runs["runs"]] == [
        ("hello", "succeeded", True)
    ]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/admin/workflows/executions?state=sleeping", "state"),
        ("/admin/workflows/executions?limit=0", "limit"),
        ("/admin/jobs/runs?offset=x", "offset"),
    ],
)
async def test_bad_query_parameters(client: httpx.AsyncClient, path: str, field: str) -> None:
    response = await client.get(path, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["field"] == field


async def test_openapi_document_lists_every_route(container: Container) -> None:
    routes = [RouteFile("/admin/things/{id}", MappingProxyType({"GET": _echo}), Path("r.py"))]
    async with client_for(create_app(container, routes)) as client:
        document = (await client.get("/openapi.json")).json()
        echoed = await client.get("/admin/things/t1", headers=AUTH)
    assert echoed.json() == {"id": "t1", "has_logger": True}
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/admin/things/{id}",
        "/health",
        "/admin/workflows/executions",
        "/admin/workflows/executions/{workflow}/{transaction_id}",
        "/admin/jobs/runs",
    }
    operation = document["paths"]["/admin/things/{id}"]["get"]
    assert operation["summary"] == "Echo the path parameter."
    assert operation["description"] == "Shows the container is passed in."
    assert operation["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert operation["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/health"]["get"]
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
