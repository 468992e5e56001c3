"""Helpers for walking and filling the reference brand system over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx


def walk(
    http: httpx.Client, limit: int, **params: Any
) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """Yield ``(brands, next_cursor)`` page by page until the cursor runs out."""
    query = {"limit": limit, **params}
    while True:
        response = http.get("/brands", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        yield page["brands"], page["next_cursor"]
        if page["next_cursor"] is None:
            return
        query["cursor"] = page["next_cursor"]


def all_ids(http: httpx.Client, limit: int = 1000, **params: Any) -> list[str]:
    """Ids of every brand a full walk returns, in the order served."""
    return [brand["id"] for brands, _ in walk(http, limit, **params) for brand in brands]


def make(http: httpx.Client, name: str, external_id: str | None = None) -> dict[str, Any]:
    """Create a brand and return it."""
    response = http.post("/brands", json={"name": name, "external_id": external_id})
    assert response.status_code == 201, response.text
    brand: dict[str, Any] = response.json()
    return brand


def statuses(http: httpx.Client, count: int, path: str = "/brands") -> list[int]:
    """The status codes of ``count`` GET requests to ``path``."""
    return [http.get(path).status_code for _ in range(count)]
