"""The ``sync-brands-from-system`` workflow and the pull sync that runs it page by page.

::

    report = await sync_brands_from_system(container)          # the job calls this
    report = await sync_brands_from_system(container, on_page=bar)   # a progress bar
    plan = await dry_run_brand_sync(container)                 # counts, no writes
"""

from __future__ import annotations

from .plan import StoreBrand, SyncPlan, plan_sync
from .sync import (
    SYNC_NAME,
    DryRunPlan,
    PageHook,
    ProgressLog,
    SyncReport,
    dry_run_brand_sync,
    page_transaction_id,
    sync_brands_from_system,
)
from .workflow import WORKFLOW_NAME, sync_brands_from_system_workflow

__all__ = [
    "SYNC_NAME",
    "WORKFLOW_NAME",
    "DryRunPlan",
    "PageHook",
    "ProgressLog",
    "StoreBrand",
    "SyncPlan",
    "SyncReport",
    "dry_run_brand_sync",
    "page_transaction_id",
    "plan_sync",
    "sync_brands_from_system",
    "sync_brands_from_system_workflow",
]
