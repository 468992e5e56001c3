"""Edits on both sides before they meet: the later writer wins, and both sides agree after."""

from __future__ import annotations

from .conftest import App, pull
from .helpers import rename_in_system, seed, system_brands


async def imported_brand(app: App) -> tuple[dict[str, object], str]:
    seed(app.system, 1)
    await pull.sync_brands_from_system(app.container)
    (stored,) = await app.store_brands()
    return stored, str(stored["external_id"])


async def test_a_later_system_edit_wins_over_an_earlier_unpushed_local_edit(app: App) -> None:
    stored, system_id = await imported_brand(app)
    await app.bus.stop()  # the local edit's push waits in the queue
    await app.service.update_brands({"id": stored["id"], "name": "Local edit"})
    rename_in_system(app.system, system_id, "System edit")

    report = await pull.sync_brands_from_system(app.container)
    await app.bus.start()
    await app.settle()

    assert report.updated == 1
    assert (await app.service.retrieve_brand(stored["id"]))["name"] == "System edit"
    assert [row["name"] for row in system_brands(app.system)] == ["System edit"]


async def test_a_later_local_edit_wins_and_reaches_the_system(app: App) -> None:
    stored, system_id = await imported_brand(app)
    rename_in_system(app.system, system_id, "System edit")
    await app.bus.stop()
    await app.service.update_brands({"id": stored["id"], "name": "Local edit"})

    report = await pull.sync_brands_from_system(app.container)
    await app.bus.start()
    await app.settle()
    again = await pull.sync_brands_from_system(app.container)

    assert (report.updated, report.unchanged) == (0, 1)
    assert (await app.service.retrieve_brand(stored["id"]))["name"] == "Local edit"
    assert [row["name"] for row in system_brands(app.system)] == ["Local edit"]
    assert (again.created, again.updated) == (0, 0)
