"""The admin routes, served by loomwork's HTTP app over the example's route files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from loomwork.app import load_config
from loomwork.http import create_app

from .conftest import App, brand, pull
from .helpers import seed, system_brands
from .project import PROJECT, project

TOKEN = "admin-token-for-tests"


@pytest.fixture
async def http(app: App) -> AsyncIterator[httpx.AsyncClient]:
    config = load_config(
        PROJECT,
        {
            "BRAND_SYSTEM_URL": app.system.base_url,
            "BRAND_SYSTEM_API_KEY": app.system.api_key,
            "LOOMWORK_ADMIN_TOKEN": TOKEN,
        },
    )
    app.container.register("config", config)
    asgi = create_app(app.container, project().routes)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi),
        base_url="http://admin.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield client


async def call(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await http.request(method, path, **kwargs)
    return response.status_code, response.json()


async def test_brands_can_be_created_listed_renamed_and_deleted(
    app: App, http: httpx.AsyncClient
) -> None:
    status, created = await call(http, "POST", "/admin/brands", json={"name": "From the API"})
    assert status == 201
    brand_id = created["brand"]["id"]
    status, listed = await call(http, "GET", "/admin/brands", params={"limit": 10})
    assert status == 200
    assert (listed["count"], listed["offset"], listed["limit"]) == (1, 0, 10)
    assert [row["name"] for row in listed["brands"]] == ["From the API"]

    status, renamed = await call(
        http, "POST", f"/admin/brands/{brand_id}", json={"name": "Renamed via API"}
    )
    assert (status, renamed["brand"]["name"]) == (200, "Renamed via API")
    await app.settle()
    assert [row["name"] for row in system_brands(app.system)] == ["Renamed via API"]

    status, deleted = await call(http, "DELETE", f"/admin/brands/{brand_id}")
    assert (status, deleted["deleted"]) == (200, True)
    status, _ = await call(http, "GET", f"/admin/brands/{brand_id}")
    assert status == 404
    await app.settle()
    assert system_brands(app.system) == []


async def test_bad_input_and_missing_token_are_refused(http: httpx.AsyncClient) -> None:
    status, body = await call(http, "POST", "/admin/brands", json={"name": "  "})
    assert status == 400
    assert body["field"] == "name"
    status, body = await call(http, "POST", "/admin/brands", json={"name": "Acme\u0000"})
    assert status == 400
    assert body["field"] == "name"
    assert "NUL" in body["message"]
    status, body = await call(http, "POST", "/admin/brands", json={"name": "Acme\nCorp"})
    assert (status, body["field"]) == (400, "name")
    assert "control characters" in body["message"]
    status, _ = await call(http, "GET", "/admin/brands", headers={"Authorization": "Bearer x"})
    assert status == 401


async def test_sync_routes_run_plan_and_show_quarantine(app: App, http: httpx.AsyncClient) -> None:
    seed(app.system, 8)
    status, plan = await call(http, "POST", "/admin/brand-sync", params={"dry_run": "true"})
    assert (status, plan["dry_run"], plan["created"]) == (200, True, 8)
    status, report = await call(http, "POST", "/admin/brand-sync")
    assert (status, report["created"]) == (200, 8)
    status, state = await call(http, "GET", "/admin/brand-sync")
    assert status == 200
    assert state["sync"]["watermark"] is not None
    assert state["sync"]["lock_owner"] is None
    status, quarantine = await call(http, "GET", "/admin/brand-sync/quarantine")
    assert (status, quarantine["count"], quarantine["records"]) == (200, 0, [])

    state_module = __import__(f"{brand.__name__}.sync_state", fromlist=["acquire_lock"])
    state_module.acquire_lock(app.engine, pull.SYNC_NAME, "another-worker", 60)
    status, refused = await call(http, "POST", "/admin/brand-sync")
    assert status == 409
    assert "already running, started by another-worker" in refused["message"]
