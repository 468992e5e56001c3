"""The pull sync under faults: retries, a failing page, a dead system, bad records."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from loomwork.workflows import RunState

from .conftest import API_KEY, App, brand, pull
from .helpers import create_in_system, seed, set_faults, system_brands

SYNC_WORKFLOW = "sync-brands-from-system"


class FailingAdvance:
    """Breaks the database write that records page ``page`` (0-based) as committed."""

    def __init__(self, page: int) -> None:
        self.page = page
        self.seen = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head, _, where = statement.partition("WHERE")
        if head.lstrip().upper().startswith("UPDATE BRAND_SYNC_STATE") and "pages_done" in where:
            self.seen += 1
            if self.seen == self.page + 1:
                raise RuntimeError("injected: the database refused the progress write")


async def stored_text(app: App) -> str:
    """Everything the workflow store holds, as one text (for secret scans)."""
    with app.engine.connect() as conn:
        rows = [
            *conn.execute(sa.select(app.store.tables.runs)).all(),
            *conn.execute(sa.select(app.store.tables.steps)).all(),
        ]
    return "\n".join(str(tuple(row)) for row in rows)


async def test_transient_faults_are_retried_and_the_sync_completes(app: App) -> None:
    seed(app.system, 45)
    set_faults(app.system, error_rate=0.3, drop_rate=0.2, truncate_rate=0.3, seed=2)

    report = await pull.sync_brands_from_system(app.container)

    set_faults(app.system)
    assert report.created == 45
    assert app.service.client.stats.retries > 0
    names = sorted(brand["name"] for brand in await app.store_brands())
    assert names == sorted(row["name"] for row in system_brands(app.system))


async def test_a_failing_page_is_undone_alone_and_the_next_run_continues(app: App) -> None:
    seed(app.system, 45)
    failing = FailingAdvance(page=1)
    sa.event.listen(app.engine, "before_cursor_execute", failing)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            await pull.sync_brands_from_system(app.container)
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", failing)

    assert len(await app.store_brands(with_deleted=True)) == 20
    reverted = await app.workflows.list_executions(SYNC_WORKFLOW, [RunState.REVERTED])
    assert len(reverted) == 1
    run = await app.workflows.get_execution(SYNC_WORKFLOW, reverted[0].id)
    assert [(error.step, error.action) for error in run.errors] == [
        ("advance-sync-state", "invoke")
    ]

    report = await pull.sync_brands_from_system(app.container)

    assert report.resumed
    assert (report.created, report.pages) == (25, 2)
    brands = await app.store_brands(with_deleted=True)
    assert len(brands) == 45
    assert len({brand["external_id"] for brand in brands}) == 45


async def test_a_dead_system_fails_the_run_with_its_cause_and_the_next_run_recovers(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seed(app.system, 30)
    set_faults(app.system, error_rate=1.0)

    with pytest.raises(brand.BrandSystemError, match="after 6 attempts") as failure:
        await pull.sync_brands_from_system(app.container)

    set_faults(app.system)
    assert failure.value.status in {500, 503}
    reverted = await app.workflows.list_executions(SYNC_WORKFLOW, [RunState.REVERTED])
    run = await app.workflows.get_execution(SYNC_WORKFLOW, reverted[0].id)
    assert run.errors[0].step == "retrieve-brands-from-system"
    assert "after 6 attempts" in str(run.errors[0].error)
    report = await pull.sync_brands_from_system(app.container)
    assert report.created == 30
    assert API_KEY not in caplog.text
    assert API_KEY not in str(failure.value)
    assert API_KEY not in await stored_text(app)


async def test_bad_records_are_quarantined_and_the_rest_syncs(app: App) -> None:
    seed(app.system, 40)
    set_faults(app.system, bad_records=0.25, seed=5)

    report = await pull.sync_brands_from_system(app.container)

    set_faults(app.system)
    quarantined, count = await brand_quarantine(app)
    assert report.quarantined == count > 0
    assert report.created + count == 40
    assert {row["field"] for row in quarantined} <= {"name", "external_id"}
    assert all(row["record_id"].startswith("brd_") and row["reason"] for row in quarantined)
    assert all(row["source"] == "sync:system" and row["payload"] for row in quarantined)

    healed = await pull.sync_brands_from_system(app.container, full=True)

    assert healed.created == count
    assert await brand_quarantine(app) == ([], 0)
    assert len(await app.store_brands()) == 40


async def test_a_name_held_by_a_store_only_brand_is_quarantined(app: App) -> None:
    seed(app.system, 5)
    # A store brand not yet pushed (its push would be refused by the system: name taken).
    await app.service.create_brands({"name": "Brand 3"}, event_metadata={"source": "sync:system"})

    report = await pull.sync_brands_from_system(app.container)

    rows, _ = await brand_quarantine(app)
    assert report.created == 4
    assert [(row["field"], row["reason"]) for row in rows] == [
        ("name", "name 'Brand 3' is already used by another brand in the store")
    ]


@pytest.mark.parametrize("name", ["Acme\0Corp", "Acme\nCorp"])
async def test_a_name_with_a_control_character_is_quarantined_and_the_rest_syncs(
    app: App, name: str
) -> None:
    seed(app.system, 3)
    spoiled = create_in_system(app.system, name)
    assert any(brand["name"] == name for brand in system_brands(app.system))

    report = await pull.sync_brands_from_system(app.container)

    rows, _ = await brand_quarantine(app)
    assert (report.created, report.quarantined) == (3, 1)
    assert [(row["record_id"], row["field"]) for row in rows] == [(spoiled["id"], "name")]
    assert sorted(row["name"] for row in await app.store_brands()) == [
        "Brand 1",
        "Brand 2",
        "Brand 3",
    ]


async def brand_quarantine(app: App) -> tuple[list[dict[str, Any]], int]:
    module = __import__(f"{brand.__name__}.quarantine", fromlist=["list_quarantined"])
    rows, count = await module.list_quarantined(app.service)
    return rows, count
