"""Scheduled job: pull the brand system's changes into the store every minute."""

from __future__ import annotations

from typing import Any

from ..modules.brand import SyncAlreadyRunningError
from ..workflows.sync_brands_from_system import sync_brands_from_system

config = {
    "name": "sync-brands-from-system",
    "schedule": "* * * * *",
    # A tick while a run still goes is skipped (and recorded); the sync's own lock also
    # refuses a manual run started meanwhile.
    "overlap": "skip",
}


async def handler(container: Any) -> None:
    """Run the sync and log what it did; a run refused by the lock is logged and skipped."""
    logger = container.resolve("logger")
    try:
        result = await sync_brands_from_system(container)
    except SyncAlreadyRunningError as refused:
        logger.info(str(refused))
        return
    logger.info(
        f"Synced brands from third-party system: {result.created} brands created "
        f"and {result.updated} brands updated."
    )
    logger.info(
        f"Brand sync details: {result.deleted} deleted, {result.unchanged} unchanged, "
        f"{result.quarantined} quarantined, {result.pages} pages"
        f"{' (full reconciliation)' if result.full else ''}."
    )
