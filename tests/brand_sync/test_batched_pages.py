"""Pages of the sync made of several list requests: one stored run per batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from reference_brand_system import RunningServer

from .conftest import API_KEY, brand, build_app, close_app, pull
from .helpers import seed, system_brands
from .test_sync_failures import SYNC_WORKFLOW, FailingAdvance


@pytest.fixture
async def batched(brand_system: RunningServer) -> AsyncIterator[Any]:
    """A client joining three requests of 10 into a page, on a system of 45 brands."""
    seed(brand_system, 45)
    async with brand.BrandSystemClient(
        brand_system.base_url, API_KEY, page_size=10, batch_pages=3
    ) as client:
        yield client


async def test_a_page_joins_batch_pages_requests_in_the_system_order(
    batched: Any, brand_system: RunningServer
) -> None:
    pages = [page async for page in batched.iter_pages()]

    assert batched.stats.requests == 5
    assert [len(page.listed) for page in pages] == [30, 15]
    assert (pages[0].cursor, pages[1].cursor) == (None, pages[0].next_cursor)
    assert pages[1].next_cursor is None
    listed = [record["id"] for page in pages for record in page.listed]
    assert listed == [row["id"] for row in system_brands(brand_system)]
    assert pages[0].max_updated_at == pages[0].listed[-1]["updated_at"]


async def test_each_batch_is_one_run_and_a_failing_batch_is_undone_alone(
    db_url: str, brand_system: RunningServer
) -> None:
    seed(brand_system, 130)  # pages of 20, three to a batch: 60, 60 and 10 brands
    app = await build_app(db_url, brand_system, batch_pages=3)
    failing = FailingAdvance(page=1)
    sa.event.listen(app.engine, "before_cursor_execute", failing)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            await pull.sync_brands_from_system(app.container)
        sa.event.remove(app.engine, "before_cursor_execute", failing)
        assert len(await app.store_brands(with_deleted=True)) == 60

        report = await pull.sync_brands_from_system(app.container)
        runs = await app.workflows.list_executions(SYNC_WORKFLOW)
        brands = await app.store_brands(with_deleted=True)
    finally:
        await close_app(app)

    assert report.resumed
    assert (report.created, report.pages) == (70, 2)
    assert len(runs) == 4  # the first batch, the undone one, and the two that finished
    assert len({row["external_id"] for row in brands}) == len(brands) == 130


async def test_a_held_batch_is_served_whole_and_only_the_last_held_is_kept(
    batched: Any,
) -> None:
    await batched.read_ahead()
    batch = await batched.fetch_page()
    batched.hold(batch)
    batched.hold(batch, cursor=batch.next_cursor)  # forgets the first
    sent = batched.stats.requests

    again = await batched.fetch_page(cursor=batch.next_cursor)
    fresh = await batched.fetch_page()

    assert again is batch  # not extended by the requests that follow it
    assert fresh is not batch
    assert len(fresh.listed) == 30
    assert batched.stats.requests >= sent + 3  # the first batch was asked for again
