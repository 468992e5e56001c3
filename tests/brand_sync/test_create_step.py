"""The create step inserts optimistically and still creates each brand once on a re-run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .conftest import App
from .project import load

steps = load("workflows.sync_brands_from_system.steps.create_brands")


def item(n: int) -> dict[str, Any]:
    return {
        "name": f"Brand {n}",
        "external_id": f"brd_{n:012d}",
        "synced_name": f"Brand {n}",
        "system_updated_at": "2026-11-26T15:30:00.000001+00:00",
    }


async def test_a_rerun_creates_only_the_brands_the_first_run_did_not(app: App) -> None:
    ctx: Any = SimpleNamespace(container=app.container)

    first = await steps.create_brands({"brands": [item(1), item(2)]}, ctx)
    again = await steps.create_brands({"brands": [item(1), item(2), item(3)]}, ctx)
    last = await steps.create_brands({"brands": [item(1), item(3)]}, ctx)

    assert len(first.output) == 2
    assert len(again.output) == 1
    assert (last.output, last.compensate_input) == ([], [])
    links = sorted(brand["external_id"] for brand in await app.store_brands())
    assert links == [item(n)["external_id"] for n in (1, 2, 3)]
