"""The push direction and the absence of echo loops between the two directions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from .conftest import App, pull, push
from .helpers import seed, system_brands

QUIET = {"source": "sync:system"}


def by_external_id(rows: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {row["external_id"]: row for row in rows}


async def test_a_store_brand_is_pushed_once_and_not_imported_back(app: App) -> None:
    created = await app.service.create_brands({"name": "Made in the store"})
    await app.settle()

    in_system = by_external_id(system_brands(app.system))
    assert list(in_system) == [created["id"]]
    stored = await app.service.retrieve_brand(created["id"])
    assert stored["external_id"] == in_system[created["id"]]["id"]
    assert stored["synced_name"] == "Made in the store"

    counter = app.count_writes()
    report = await pull.sync_brands_from_system(app.container, full=True)
    await app.settle()
    app.stop_counting(counter)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
    assert counter.on("brand") == []
    assert len(system_brands(app.system)) == 1
    assert len(await app.store_brands()) == 1


async def test_imported_brands_are_not_pushed_back(app: App) -> None:
    seed(app.system, 12)
    before = {row["id"]: row["updated_at"] for row in system_brands(app.system)}
    requests = app.service.client.stats

    await pull.sync_brands_from_system(app.container)
    sent = requests.requests
    await app.settle()

    assert requests.requests == sent
    after = {row["id"]: row["updated_at"] for row in system_brands(app.system)}
    assert after == before


async def test_local_renames_and_deletes_reach_the_system_without_echo(app: App) -> None:
    seed(app.system, 3)
    await pull.sync_brands_from_system(app.container)
    first, second, _ = sorted(await app.store_brands(), key=lambda row: row["name"])

    await app.service.update_brands({"id": first["id"], "name": "Renamed in the store"})
    await app.service.soft_delete_brands([second["id"]])
    await app.settle()

    system = {row["id"]: row for row in system_brands(app.system, include_deleted=True)}
    assert system[first["external_id"]]["name"] == "Renamed in the store"
    assert system[second["external_id"]]["deleted_at"] is not None
    report = await pull.sync_brands_from_system(app.container)
    assert (report.created, report.updated, report.deleted) == (0, 0, 0)
    renamed = await app.service.retrieve_brand(first["id"])
    assert renamed["name"] == "Renamed in the store"


async def test_a_failed_write_back_deletes_the_brand_it_created_in_the_system(app: App) -> None:
    created = await app.service.create_brands({"name": "Half pushed"}, event_metadata=QUIET)

    def refuse_brand_updates(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE BRAND "):
            raise RuntimeError("injected: the store refused the write-back")

    sa.event.listen(app.engine, "before_cursor_execute", refuse_brand_updates)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            await push.push_brand_to_system_workflow(app.container).run(input={"id": created["id"]})
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", refuse_brand_updates)

    in_system = system_brands(app.system, include_deleted=True)
    assert [row["name"] for row in in_system] == ["Half pushed"]
    assert in_system[0]["deleted_at"] is not None
    stored = await app.service.retrieve_brand(created["id"])
    assert stored["external_id"] is None


def test_the_push_decision_follows_the_brand_state() -> None:
    decide = push.push_operation
    live = {"external_id": "brd_1", "name": "A", "synced_name": "A", "deleted_at": None}
    assert decide(None) == "none"
    assert decide({**live, "external_id": None}) == "create"
    assert decide(live) == "none"
    assert decide({**live, "name": "B"}) == "update"
    assert decide({**live, "deleted_at": "2026-01-01T00:00:00+00:00"}) == "delete"
    assert decide({**live, "external_id": None, "deleted_at": "2026-01-01"}) == "none"
