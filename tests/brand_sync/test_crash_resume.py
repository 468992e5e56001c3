"""A sync process killed mid-page: the next run finishes that page and resumes after it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from loomwork.workflows import RunState
from reference_brand_system import RunningServer

from .conftest import build_app, close_app, pull
from .crash_worker import CRASH_EXIT
from .helpers import seed

TESTS = Path(__file__).resolve().parents[1]


async def test_a_killed_sync_resumes_from_its_last_committed_page(
    db_url: str, brand_system: RunningServer
) -> None:
    seed(brand_system, 45)
    prefix = "wf_crash_"
    worker = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "brand_sync.crash_worker",
            db_url,
            brand_system.base_url,
            brand_system.api_key,
            prefix,
            "1",
        ],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert worker.returncode == CRASH_EXIT, worker.stderr
    await asyncio.sleep(0.6)  # let the dead process's lock and run leases (0.5 s) run out

    app = await build_app(db_url, brand_system, table_prefix=prefix)
    try:
        assert len(await app.store_brands()) == 40
        report = await pull.sync_brands_from_system(app.container)
        brands = await app.store_brands(with_deleted=True)
        done = await app.workflows.list_executions(pull.WORKFLOW_NAME, [RunState.DONE])
        fetched = app.service.client.stats.records_fetched
    finally:
        await close_app(app)

    assert report.resumed
    assert len(brands) == 45
    assert len({row["external_id"] for row in brands}) == 45
    assert len(done) == 3
    assert fetched == 5
