"""Small helpers for the brand-sync tests: driving the reference system's admin API."""

from __future__ import annotations

from typing import Any

import httpx

from reference_brand_system import RunningServer


def seed(system: RunningServer, count: int, prefix: str = "Brand") -> None:
    """Create ``count`` brands named ``"<prefix> <n>"`` in the system."""
    response = httpx.post(
        f"{system.base_url}/_admin/seed",
        json={"count": count, "prefix": prefix},
        headers=system.headers,
        timeout=10,
    )
    response.raise_for_status()


def set_faults(system: RunningServer, **faults: Any) -> None:
    """Replace the system's fault configuration (absent faults are off)."""
    response = httpx.put(
        f"{system.base_url}/_admin/faults", json=faults, headers=system.headers, timeout=10
    )
    response.raise_for_status()


def system_brands(system: RunningServer, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Every brand in the system, read through its public API (one large page at a time)."""
    brands: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000, "include_deleted": str(include_deleted).lower()}
    while True:
        response = httpx.get(
            f"{system.base_url}/brands", params=params, headers=system.headers, timeout=10
        )
        response.raise_for_status()
        body = response.json()
        brands.extend(body["brands"])
        if body["next_cursor"] is None:
            return brands
        params["cursor"] = body["next_cursor"]


def create_in_system(system: RunningServer, name: str) -> dict[str, Any]:
    """Create a brand through the system's public API."""
    response = httpx.post(
        f"{system.base_url}/brands", json={"name": name}, headers=system.headers, timeout=10
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def rename_in_system(system: RunningServer, brand_id: str, name: str) -> dict[str, Any]:
    """Rename a brand through the system's public API."""
    response = httpx.patch(
        f"{system.base_url}/brands/{brand_id}",
        json={"name": name},
        headers=system.headers,
        timeout=10,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def delete_in_system(system: RunningServer, brand_id: str) -> None:
    """Delete a brand through the system's public API."""
    response = httpx.delete(
        f"{system.base_url}/brands/{brand_id}", headers=system.headers, timeout=10
    )
    response.raise_for_status()
