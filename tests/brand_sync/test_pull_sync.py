"""The pull direction end to end: the reference system over HTTP into SQLite/PostgreSQL."""

from __future__ import annotations

from reference_brand_system import RunningServer

from .conftest import App, build_app, close_app, pull
from .helpers import delete_in_system, rename_in_system, seed, system_brands


async def test_first_sync_creates_every_brand_once_and_repeats_create_nothing(app: App) -> None:
    seed(app.system, 45)

    first = await pull.sync_brands_from_system(app.container)
    again = await pull.sync_brands_from_system(app.container)
    third = await pull.sync_brands_from_system(app.container, full=True)

    assert (first.created, first.updated, first.pages) == (45, 0, 3)
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert (third.created, third.updated, third.unchanged) == (0, 0, 45)
    brands = await app.store_brands()
    by_external = {brand["external_id"]: brand["name"] for brand in brands}
    assert len(brands) == 45
    assert by_external == {row["id"]: row["name"] for row in system_brands(app.system)}


async def test_an_unchanged_resync_writes_no_brand_rows(app: App) -> None:
    seed(app.system, 30)
    await pull.sync_brands_from_system(app.container)

    counter = app.count_writes()
    report = await pull.sync_brands_from_system(app.container, full=True)
    app.stop_counting(counter)

    assert report.unchanged == 30
    assert counter.on("brand", "brand_quarantine") == []


async def test_renames_and_deletes_in_the_system_reach_the_store(app: App) -> None:
    seed(app.system, 25)
    await pull.sync_brands_from_system(app.container)
    first, second = system_brands(app.system)[:2]
    rename_in_system(app.system, first["id"], "Renamed in system")
    delete_in_system(app.system, second["id"])

    report = await pull.sync_brands_from_system(app.container)

    assert (report.created, report.updated, report.deleted) == (0, 1, 1)
    live = {brand["external_id"]: brand for brand in await app.store_brands()}
    assert live[first["id"]]["name"] == "Renamed in system"
    assert second["id"] not in live
    everything = await app.store_brands(with_deleted=True)
    deleted = [brand for brand in everything if brand["external_id"] == second["id"]]
    assert len(deleted) == 1
    assert deleted[0]["deleted_at"] is not None


async def test_an_incremental_run_fetches_only_the_changed_records(app: App) -> None:
    seed(app.system, 50)
    await pull.sync_brands_from_system(app.container)
    stats = app.service.client.stats
    changed = system_brands(app.system)[10:13]
    for row in changed:
        rename_in_system(app.system, row["id"], f"{row['name']} v2")
    fetched_before = stats.records_fetched
    requests_before = len(stats.list_params)

    report = await pull.sync_brands_from_system(app.container)

    assert report.updated == 3
    assert stats.records_fetched - fetched_before == 3
    assert "updated_since" in stats.list_params[requests_before]
    nothing = await pull.sync_brands_from_system(app.container)
    assert stats.records_fetched - fetched_before == 3
    assert (nothing.pages, nothing.unchanged) == (1, 0)


async def test_every_nth_run_reconciles_everything(
    db_url: str, brand_system: RunningServer
) -> None:
    seed(brand_system, 12)
    app = await build_app(db_url, brand_system, full_sync_every=3)
    try:
        reports = [await pull.sync_brands_from_system(app.container) for _ in range(6)]
    finally:
        await close_app(app)

    assert [report.full for report in reports] == [True, False, True, False, False, True]
    assert [report.unchanged for report in reports] == [0, 0, 12, 0, 0, 12]
    assert reports[0].created == 12
